import type { Order, OrderStatus } from './order';
import type { OrderRepository } from './ports';

export interface ListOrdersInput {
  readonly status?: OrderStatus;
}

export interface ListOrdersResult {
  readonly orders: Order[];
  readonly count: number;
}

/**
 * Use case: list orders, newest first, optionally filtered by status.
 */
export async function listOrders(
  repository: OrderRepository,
  input: ListOrdersInput = {},
): Promise<ListOrdersResult> {
  // TODO: pagination
  const orders = await repository.list(input.status === undefined ? {} : { status: input.status });
  const sorted = [...orders].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return { orders: sorted, count: sorted.length };
}
