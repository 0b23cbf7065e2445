"""The scripted STORY-042 session on the bundled example monorepo: file contents and steps shared by
`storyfence demo` and the end-to-end tests, so the demo shows exactly what the tests prove."""

from __future__ import annotations

from typing import Any

STORY = "STORY-042"

CANCEL_ORDER_BROKEN = """\
import type { Order } from './order';
import type { OrderRepository } from './ports';

export type CancelOrderResult =
  | { readonly kind: 'cancelled'; readonly order: Order }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'not_cancellable'; readonly status: Order['status'] };

/** Use case: cancel a pending or paid order. Shipped orders cannot be cancelled. */
export async function cancelOrder(
  repository: OrderRepository,
  id: string,
  now: () => Date = () => new Date(),
): Promise<CancelOrderResult> {
  const order = await repository.findById(id);
  if (order === undefined) {
    return { kind: 'not_found' };
  }
  if (order.status !== 'pending' && order.status !== 'paid') {
    return { kind: 'not_cancellable', status: order.status };
  }
  const cancelled: Order = { ...order, status: 'canceled', updatedAt: now().toISOString() };
  await repository.save(cancelled);
  return { kind: 'cancelled', order: cancelled };
}
"""

# the one-character fix the agent makes after reading the typecheck error
CANCEL_ORDER_FIX = {"old_text": "status: 'canceled'", "new_text": "status: 'cancelled'"}

INDEX_EXPORT = {
    "old_text": "export { listOrders } from './orders/list-orders';\n",
    "new_text": "export { listOrders } from './orders/list-orders';\n"
    "export type { CancelOrderResult } from './orders/cancel-order';\n"
    "export { cancelOrder } from './orders/cancel-order';\n",
}

CANCEL_ENDPOINT = """\
import { cancelOrder } from '@example/core';
import type { VercelRequest, VercelResponse } from '../../../src/http';
import { methodNotAllowed, queryParam, sendError } from '../../../src/http';
import { orderRepository } from '../../../src/repository';

/** POST /api/orders/:id/cancel */
export default async function handler(req: VercelRequest, res: VercelResponse): Promise<void> {
  if (req.method !== 'POST') {
    methodNotAllowed(res, ['POST']);
    return;
  }
  const id = queryParam(req, 'id');
  if (id === undefined) {
    sendError(res, 400, 'missing_id', 'the order id is required');
    return;
  }
  const result = await cancelOrder(orderRepository, id);
  switch (result.kind) {
    case 'cancelled':
      res.status(200).json({ order: result.order });
      return;
    case 'not_found':
      sendError(res, 404, 'not_found', `no order ${id}`);
      return;
    case 'not_cancellable':
      sendError(res, 409, 'not_cancellable', `an order that is ${result.status} cannot be cancelled`);
      return;
  }
}
"""

CANCEL_HTTP = """\
### Cancel a pending order
POST http://localhost:3001/api/orders/ord_1001/cancel

### A shipped order cannot be cancelled (409)
POST http://localhost:3001/api/orders/ord_1003/cancel
"""

CANCEL_BUTTON_TSX = """\
export function CancelButton() {
  return <button>Cancel</button>;
}
"""

CHUNK_1_LOG: dict[str, Any] = {
    "summary": "Added the cancelOrder use case (pending/paid -> cancelled; shipped -> not_cancellable; "
    "unknown id -> not_found) and exported it from @example/core.",
    "reuse": {
        "reused": "Order, OrderStatus and the OrderRepository port from packages/core/src/orders.",
        "new": "packages/core/src/orders/cancel-order.ts (cancelOrder, CancelOrderResult).",
        "why_new": "No existing use case changes an order's status.",
    },
    "ports_adapters": {
        "core": "The cancellation rules and the result type; storage only through OrderRepository.",
        "adapters": "Nothing: persistence stays in the repository adapters.",
    },
    "notes_risks": "The first typecheck caught a misspelt status ('canceled'); fixed in one attempt.",
}

CHUNK_2_LOG: dict[str, Any] = {
    "summary": "Added POST /api/orders/:id/cancel mapping the use case's results to 200 / 404 / 409, "
    "and a request file for manual testing.",
    "reuse": {
        "reused": "cancelOrder from @example/core; sendError, methodNotAllowed, queryParam and the shared "
        "orderRepository from apps/api/src.",
        "new": "apps/api/api/orders/[id]/cancel.ts and __http__/orders-cancel.http.",
        "why_new": "The endpoint did not exist.",
    },
    "ports_adapters": {
        "core": "No business rule in the endpoint: it only translates results to HTTP.",
        "adapters": "HTTP status codes and the Vercel function signature stay in apps/api.",
    },
    "notes_risks": "The in-memory repository is per function instance; production needs the Postgres adapter.",
}
