// A server component: the page is rendered on the server; the chat, which
// runs the model, is a client component.
import Chat from './chat';

export default function Page() {
  return <Chat />;
}
