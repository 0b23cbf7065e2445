export { API_PORT, DATABASE_URL } from './config';
export { InMemoryOrderRepository } from './in-memory-order-repository';
export { seedOrders } from './seed';
