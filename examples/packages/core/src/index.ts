export type { Order, OrderLine, OrderStatus } from './orders/order';
export { orderTotalCents } from './orders/order';
export type { ListOrdersQuery, OrderRepository } from './orders/ports';
export type { ListOrdersInput, ListOrdersResult } from './orders/list-orders';
export { listOrders } from './orders/list-orders';
