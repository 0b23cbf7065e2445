'use client';

import { useEffect, useState } from 'react';
import { Button } from '@example/ui';

interface OrderRow {
  id: string;
  status: 'pending' | 'paid' | 'cancelled' | 'shipped';
  totalCents: number;
}

export function OrderList({ apiBaseUrl }: { apiBaseUrl: string }) {
  const [orders, setOrders] = useState<OrderRow[]>([]);
  const [error, setError] = useState<string | null>(null);

  async function load() {
    try {
      const response = await fetch(`${apiBaseUrl}/api/orders`);
      const body = (await response.json()) as { orders: OrderRow[] };
      setOrders(body.orders);
      setError(null);
    } catch (err) {
      setError(String(err));
    }
  }

  useEffect(() => {
    void load();
  }, []);

  if (error) {
    return <p role="alert">Could not load orders: {error}</p>;
  }

  return (
    <section>
      <Button onClick={() => void load()}>Refresh</Button>
      <ul>
        {orders.map((order) => (
          <li key={order.id}>
            {order.id}: {order.status} ({(order.totalCents / 100).toFixed(2)})
          </li>
        ))}
      </ul>
    </section>
  );
}
