"""The relay: retrieve a batch, run the hooks, fan out to destinations, deliver with retries.

`Relay` (the pipeline) owns a `FanOut` and a `Deliverer`; `DeliveryPolicy` says when to retry and when
to dead-letter; `submit_once` pays for a generation once; `RelayWorker` runs the relay in the
background for the webhook receiver.
"""

__all__ = [
    "CollectSource",
    "DeliveryPolicy",
    "Relay",
    "RelayReport",
    "RelayWorker",
    "SubmissionInDoubtError",
    "UpscaleSource",
    "default_destinations",
    "submit_once",
]

from msgrelay.relay.fanout import CollectSource, UpscaleSource
from msgrelay.relay.pipeline import DeliveryPolicy, Relay, RelayReport, default_destinations
from msgrelay.relay.submit import SubmissionInDoubtError, submit_once
from msgrelay.relay.worker import RelayWorker
