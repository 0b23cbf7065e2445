import type { Order } from '@example/core';

/** Sample orders for local development, one per status. */
export const seedOrders: readonly Order[] = [
  {
    id: 'ord_1001',
    customerId: 'cus_1',
    status: 'pending',
    lines: [{ sku: 'MUG-BLUE', quantity: 2, unitPriceCents: 1200 }],
    createdAt: '2024-05-01T09:00:00.000Z',
    updatedAt: '2024-05-01T09:00:00.000Z',
  },
  {
    id: 'ord_1002',
    customerId: 'cus_2',
    status: 'paid',
    lines: [{ sku: 'TEE-M', quantity: 1, unitPriceCents: 2500 }],
    createdAt: '2024-05-02T10:30:00.000Z',
    updatedAt: '2024-05-02T10:35:00.000Z',
  },
  {
    id: 'ord_1003',
    customerId: 'cus_1',
    status: 'shipped',
    lines: [{ sku: 'CAP-RED', quantity: 1, unitPriceCents: 1800 }],
    createdAt: '2024-05-03T14:00:00.000Z',
    updatedAt: '2024-05-04T08:00:00.000Z',
  },
  {
    id: 'ord_1004',
    customerId: 'cus_3',
    status: 'cancelled',
    lines: [{ sku: 'MUG-RED', quantity: 1, unitPriceCents: 1200 }],
    createdAt: '2024-05-05T16:20:00.000Z',
    updatedAt: '2024-05-05T17:00:00.000Z',
  },
];
