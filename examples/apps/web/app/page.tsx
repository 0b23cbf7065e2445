import { OrderList } from '../components/OrderList';

export default function OrdersPage() {
  return (
    <main>
      <h1>Orders</h1>
      <OrderList apiBaseUrl="http://localhost:3001" />
    </main>
  );
}
