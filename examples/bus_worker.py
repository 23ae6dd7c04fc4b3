"""A bus worker: consume ``orders.*`` in the queue group ``billing``, handle, ack.

Several copies of this worker share the work (a queue group); a message whose handler raises is
not acked and is redelivered after the visibility timeout; redeliveries of processed messages are
skipped. ``--limit N`` stops after N messages (default: run until Ctrl-C)::

    KEI_API_URL=http://127.0.0.1:8080 KEI_API_TOKEN=dev-token python examples/bus_worker.py --limit 3
"""

from __future__ import annotations

import argparse
import sys

from kei_agent import AgentClientConfig
from kei_agent._generated.models import BusMessage
from kei_agent_sync import KeiAgentClient


def bill(message: BusMessage) -> None:
    """The work: here, print the order (raise to leave the message for redelivery)."""
    order = message.payload["order_id"]
    print(f"billed order {order} ({message.subject}, delivery {message.delivery_count})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=None, help="stop after this many messages")
    parser.add_argument("--subject", default="orders.*")
    args = parser.parse_args()
    client = KeiAgentClient(AgentClientConfig.from_env())
    with client, client.subscribe(args.subject, queue="billing", wait=1.0) as subscription:
        print(f"ready: {subscription!r}", flush=True)
        try:
            result = subscription.consume(bill, limit=args.limit)
        except KeyboardInterrupt:
            print("stopped", flush=True)
            return 0
    print(f"done: {result}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
