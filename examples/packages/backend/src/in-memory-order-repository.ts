import type { ListOrdersQuery, Order, OrderRepository } from '@example/core';

/**
 * Adapter: keeps orders in a Map. Used by the API in development and by tests.
 */
export class InMemoryOrderRepository implements OrderRepository {
  private readonly orders = new Map<string, Order>();

  constructor(seed: readonly Order[] = []) {
    for (const order of seed) {
      this.orders.set(order.id, order);
    }
  }

  async findById(id: string): Promise<Order | undefined> {
    return this.orders.get(id);
  }

  async save(order: Order): Promise<void> {
    this.orders.set(order.id, order);
  }

  async list(query: ListOrdersQuery = {}): Promise<Order[]> {
    const all = [...this.orders.values()];
    return query.status === undefined ? all : all.filter((order) => order.status === query.status);
  }
}
