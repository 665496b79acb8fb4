"""The relay: retrieve a batch, run the hooks, fan out to destinations, deliver with retries.

`Relay` (the pipeline) builds and owns a `FanOut` and a `Deliverer`; `DeliveryPolicy` says when to
retry and when to dead-letter; `RelayReport` counts what a run did; `submit_once` pays for a
generation once; `RelayWorker` runs the relay in the background for the webhook receiver.
"""

__all__ = [
    "CollectSource",
    "Deliverer",
    "DeliveryPolicy",
    "FanOut",
    "Relay",
    "RelayReport",
    "RelayWorker",
    "SubmissionInDoubtError",
    "UpscaleSource",
    "default_destinations",
    "explicit_destinations",
    "submit_once",
]

from msgrelay.relay.deliver import Deliverer
from msgrelay.relay.fanout import CollectSource, FanOut, UpscaleSource
from msgrelay.relay.pipeline import Relay, default_destinations, explicit_destinations
from msgrelay.relay.policy import DeliveryPolicy
from msgrelay.relay.report import RelayReport
from msgrelay.relay.submit import SubmissionInDoubtError, submit_once
from msgrelay.relay.worker import RelayWorker
