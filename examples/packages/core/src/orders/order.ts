/**
 * Order aggregate. Pure domain: no transport, no storage, no framework.
 */
export type OrderStatus = 'pending' | 'paid' | 'cancelled' | 'shipped';

export interface OrderLine {
  readonly sku: string;
  readonly quantity: number;
  /** Unit price in minor units (cents). */
  readonly unitPriceCents: number;
}

export interface Order {
  readonly id: string;
  readonly customerId: string;
  readonly status: OrderStatus;
  readonly lines: readonly OrderLine[];
  /** ISO-8601 timestamp. */
  readonly createdAt: string;
  /** ISO-8601 timestamp. */
  readonly updatedAt: string;
}

export function orderTotalCents(order: Order): number {
  return order.lines.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0);
}
