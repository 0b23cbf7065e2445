import type { Order, OrderStatus } from './order';

export interface ListOrdersQuery {
  readonly status?: OrderStatus;
}

/**
 * Port: how the domain reaches stored orders. Adapters (in-memory, Postgres, ...)
 * live outside core and implement this interface.
 */
export interface OrderRepository {
  findById(id: string): Promise<Order | undefined>;
  save(order: Order): Promise<void>;
  list(query?: ListOrdersQuery): Promise<Order[]>;
}
