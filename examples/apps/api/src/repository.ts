import { InMemoryOrderRepository, seedOrders } from '@example/backend';
import type { OrderRepository } from '@example/core';

/** One repository per function instance; swap for the Postgres adapter in production. */
export const orderRepository: OrderRepository = new InMemoryOrderRepository(seedOrders);
