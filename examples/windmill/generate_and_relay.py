"""Windmill: a typed ``main`` that generates messages for leads and relays them to destinations.

Windmill builds the script's form from the signature; ``upscale`` is a resource (type ``upscale``)
holding the API key and base URL, so the key never sits in the script or its arguments' history.
Windmill installs ``msgrelay`` from the import below. Every step takes keyword arguments only.
"""

from typing import TypedDict

from msgrelay import steps


class upscale(TypedDict):  # noqa: N801  # Windmill maps a resource type by the class's exact name
    api_key: str
    base_url: str


def main(
    upscale_account: upscale,
    leads: list[dict[str, str]],
    customer_id: str,
    campaign_id: str,
    campaign_name: str,
    company_name: str,
    company_url: str,
    notify_url: str,
    sequence: list[str] = ["connection_request", "first_follow_up"],  # noqa: B006  # Windmill's form default
    destinations: str = "store",
    max_wait: float = 120.0,
) -> dict[str, object]:
    credentials = {"api_key": upscale_account["api_key"], "base_url": upscale_account["base_url"]}
    ticket = steps.generate(
        leads=leads,
        sequence=sequence,
        customer_id=customer_id,
        campaign_id=campaign_id,
        campaign_name=campaign_name,
        company_name=company_name,
        company_url=company_url,
        notify_url=notify_url,
        **credentials,
    )
    relayed = steps.relay(
        secure_request_id=ticket["secure_request_id"],
        destinations=destinations,
        max_wait=max_wait,
        **credentials,
    )
    return {"secure_request_id": ticket["secure_request_id"], "delivered": relayed["delivered"]}
