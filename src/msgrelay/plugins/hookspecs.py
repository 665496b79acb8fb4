"""The hooks a msgrelay plugin can implement, and the markers it decorates them with.

A plugin is a module (or any object) whose functions carry ``@msgrelay.hookimpl`` and are named after
the hooks below. It may implement any subset of them, and take any subset of a hook's arguments.
The host calls every plugin's implementation in order: ``tryfirst`` ones, then the others in the order
the plugins were registered, then ``trylast`` ones. An implementation that raises does not stop the
others: the error is recorded with the plugin's name and the lead or message it concerned, and shows
in ``msgrelay relay --status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import pluggy

from msgrelay.collect.models import Message as CollectMessage
from msgrelay.destinations.delivery import GeneratedMessage, RelayContext
from msgrelay.destinations.emulator import DemoEmulator
from msgrelay.destinations.registry import RegisterDestination
from msgrelay.destinations.types import RegisterDestinationType
from msgrelay.upscale.models import Lead, RetrieveResult

__all__ = ["hookimpl", "hookspec"]

#: The project name the markers are bound to; the entry-point group is the same.
PROJECT = "msgrelay"

hookspec = pluggy.HookspecMarker(PROJECT)
#: The marker plugin authors decorate their hook implementations with (re-exported as ``msgrelay.hookimpl``).
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def on_generation_complete(result: RetrieveResult, context: RelayContext) -> None:
    """An Upscale generation batch is complete and has been retrieved.

    Called once per batch, before any lead is transformed or delivered. Use it to log, count, or
    notify; the batch is delivered whatever this hook does.

    At least once: if the fan-out that called it does not commit (the relay crashes, the ledger
    fails, or the batch's claim passed to another worker), the batch is fanned out again and this
    hook fires again, perhaps in another process. Once a fan-out has committed, a later one (the batch
    re-run) does not call it. Use ``context.batch_id`` to dedupe.

    Args:
        result: the complete retrieve response (a `msgrelay.RetrieveResult`: ``result.leads``,
            ``result.metadata``...), untransformed.
        context: what the batch is (a `msgrelay.RelayContext`: ``context.secure_request_id``, customer
            and campaign ids, the destinations it goes to).

    Returns:
        Nothing; a returned value is ignored.

    Raising records the error against this plugin and the batch; the relay carries on.
    """


@hookspec
def transform_lead(lead: Lead, context: RelayContext) -> Lead | None:
    """Change a lead before it is delivered: a fold, not a broadcast.

    The host threads each lead through every implementation in order: the second plugin receives
    what the first returned, so two plugins compose. Build the new lead with ``attrs.evolve(lead, ...)``
    (leads are frozen). What the last implementation returns is what every destination receives, and
    it is stored with the delivery, so a retry delivers exactly the same lead.

    Args:
        lead: the lead as the previous implementation left it, with ``lead.messages`` (message type →
            text, or None where nothing was generated).
        context: the batch the lead belongs to.

    Returns:
        A new `msgrelay.Lead`, or None to leave the lead unchanged. Anything else is recorded as an
        error against this plugin and the lead, and ignored.

    Raising records the error against this plugin and the lead, and passes the lead on unchanged
    (as this implementation received it) to the next one.

    Called again when a batch is fanned out again (a retry, a re-run); a lead that an earlier fan-out
    stored keeps the stored version, so a later result for it is not delivered.
    """


@hookspec
def on_message_fetched(
    message: GeneratedMessage | CollectMessage, lead: Lead | None, context: RelayContext
) -> None:
    """One message has been fetched: called once per message, after `transform_lead`.

    For Upscale, ``message`` is a `msgrelay.GeneratedMessage` (``message_type``, ``text``,
    ``external_prospect_id``), one per generated (non-null) message of the transformed lead, and
    ``lead`` is that lead. For Collect, ``message`` is the typed Collect message (a
    `msgrelay.collect.Message`: ``InternalMessage``, ``EmailMessage``, ``SmsMessage`` or
    ``UnknownMessage``) and ``lead`` is None.

    Fired for the messages a fan-out is about to store for the first time, before it commits: a re-run
    (``msgrelay relay REQUEST_ID --collect`` again) fires it only for messages added since. At least
    once, not exactly once: if that fan-out then does not commit (the relay crashes, the ledger fails,
    or the batch's claim passed to another worker), its messages are fired again when the batch is
    retried, perhaps in another process. To dedupe, key on ``context.batch_id`` and the message's
    identity: ``(message.external_prospect_id, message.message_type)`` for Upscale, ``message.id``
    for Collect.

    Args:
        message: the message.
        lead: the transformed lead the message belongs to, or None for a Collect message.
        context: the batch (``context.source`` is ``"upscale"`` or ``"collect"``).

    Returns:
        Nothing; a returned value is ignored.

    Raising records the error against this plugin and the message; the relay carries on.
    """


@hookspec
def register_destinations(register: RegisterDestination) -> None:
    """Name the destinations this plugin delivers to.

    Call ``register(name, deliver)`` once per destination. A host or a step selects destinations by
    name (``msgrelay relay ID --to hubspot,store`` or ``MSGRELAY_DESTINATIONS``). The relay then calls
    ``deliver(delivery)`` once per destination and lead (Upscale) or message (Collect), with a
    `msgrelay.Delivery` whose ``key`` is the same on every retry, so the destination can drop a
    repeat. ``deliver`` returns on success and raises to ask for a retry; after the last attempt the
    delivery is dead-lettered (``msgrelay relay --retry-dead`` re-drives it).

    ``register(name, deliver, deliver_many=fn)`` may also pass a batch form,
    ``deliver_many(deliveries) -> dict[key, Exception]`` (the failures by delivery key; raising
    fails the whole batch), which the relay prefers when present.

    Names are lower case letters, digits, ``-``, ``_`` and ``.``; a name registered twice keeps the
    first registration and records an error against the second plugin.

    Args:
        register: the callback described above (`msgrelay.destinations.RegisterDestination`).
    """


@hookspec
def register_destination_types(register: RegisterDestinationType) -> None:
    """Name the destination *types* this plugin provides, so one plugin serves several instances.

    Call ``register(type_name, factory, settings=(...), secrets=(...))`` once per type. The host then
    builds instances with ``factory(name, settings)``:

    - for each ``[destinations.NAME]`` table with ``type = "TYPE_NAME"`` in the config file
      (``MSGRELAY_CONFIG`` or ``--config``), at startup, with that table's settings;
    - for the *default instance* named after the type (``webhook``), from the environment on its first
      delivery, unless the config file defines an instance of that name: the key ``url`` is read from
      ``MSGRELAY_<TYPE_NAME>_URL`` (``MSGRELAY_WEBHOOK_URL``). An environment-only setup thus works
      as it did before types existed.

    ``settings`` is a `msgrelay.destinations.DestinationSettings`: a mapping of key → string (a setting's
    key is the environment variable's suffix in lower case; TOML numbers and booleans arrive as
    strings, ``true``/``false`` for booleans), whose ``settings.where(key)`` names the key as the user
    wrote it and ``settings.error(key, problem)`` makes the `msgrelay.errors.ConfigurationError` to
    raise. Check every setting in the factory, before any network call, and never put a value in an
    error. The factory returns an object with ``deliver(delivery)`` (as for `register_destinations`:
    return on success, raise to ask for a retry) and optionally ``deliver_many(deliveries) -> {key:
    exception}``, ``check()`` (verify the settings against the service; raise if wrong) and ``close()``.

    ``settings`` names the keys that are not secret and ``secrets`` those that are (API keys, tokens,
    signing secrets). A config file gives a secret only as ``<key>_env = "VARIABLE"`` (any other key may
    be given so too); an inline secret, an unknown key (when keys are declared) or a missing variable is
    a configuration error naming the file, the table and the key. Type names are lower case letters,
    digits and ``_``; a type registered twice keeps the first and records an error against the second
    plugin.

    Args:
        register: the callback described above (`msgrelay.destinations.RegisterDestinationType`).
    """


@hookspec(firstresult=True)
def route_destinations(context: RelayContext) -> Sequence[str] | None:
    """Choose the destinations of a batch that names none: for hosts that keep routes in their database.

    Called once when a batch is first fanned out, after it is retrieved (so ``context.customer_id`` and
    ``context.campaign_id`` are known) and before any other hook, only when the batch has no explicit
    destinations (``--to``, ``MSGRELAY_DESTINATIONS``, ``destinations=`` in Python). The first
    implementation that returns a value other than None wins; when all return None, the config file's
    routes apply, then the built-in ``store``. The chosen names are recorded on the batch, so a retry or
    a re-run goes where the first fan-out went, whatever the routes say by then.

    Args:
        context: the batch (``source``, ``batch_id``, ``customer_id``, ``campaign_id``, ...);
            ``context.destinations`` is empty here.

    Returns:
        Destination names (each must be registered, or the batch fails and is retried), or None to leave
        the choice to the next implementation and then the config file.

    Raising fails the batch's fan-out: it is retried with backoff (a database that is down), then
    dead-lettered.
    """


@hookspec
def demo_emulator(destination_type: str) -> AbstractContextManager[DemoEmulator] | None:
    """Start an emulator of this plugin's vendor for ``msgrelay demo --to DESTINATION_TYPE``.

    Called by the demo for each destination it is asked to deliver to whose plugin's base URL is not
    set. Answer only for your own destination type, with a context manager that starts the emulator on
    127.0.0.1 (a free port), yields a `msgrelay.destinations.DemoEmulator` and stops it on exit; return
    None for any other type. The first answer that is not None is used.

    Args:
        destination_type: the type the demo delivers to (``"hubspot"``, ``"lemlist"``...).

    Returns:
        A context manager yielding the running emulator, or None.
    """
