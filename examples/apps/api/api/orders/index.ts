import { listOrders, orderTotalCents, type OrderStatus } from '@example/core';
import type { VercelRequest, VercelResponse } from '../../src/http';
import { methodNotAllowed, queryParam, sendError } from '../../src/http';
import { orderRepository } from '../../src/repository';

const STATUSES: readonly OrderStatus[] = ['pending', 'paid', 'cancelled', 'shipped'];

function isOrderStatus(value: string): value is OrderStatus {
  return (STATUSES as readonly string[]).includes(value);
}

/** GET /api/orders[?status=pending|paid|cancelled|shipped] */
export default async function handler(req: VercelRequest, res: VercelResponse): Promise<void> {
  if (req.method !== 'GET') {
    methodNotAllowed(res, ['GET']);
    return;
  }

  const status = queryParam(req, 'status');
  if (status !== undefined && !isOrderStatus(status)) {
    sendError(res, 400, 'invalid_status', `status must be one of: ${STATUSES.join(', ')}`);
    return;
  }

  const result = await listOrders(orderRepository, status === undefined ? {} : { status });
  res.status(200).json({
    orders: result.orders.map((order) => ({ ...order, totalCents: orderTotalCents(order) })),
    count: result.count,
  });
}
