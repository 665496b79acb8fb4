"""Pipedream: a Python code step that asks msgrelay to generate messages for the trigger's leads.

Pipedream calls ``handler(pd)``; ``pd.inputs`` holds the step's props and ``pd.steps`` earlier steps'
exports. msgrelay runs as ``msgrelay serve`` elsewhere; this step calls its HTTP steps API, so nothing
but ``requests`` is needed here. Set the project's environment variables ``MSGRELAY_URL`` and
``MSGRELAY_API_TOKEN``. The returned dict is exported to later steps (``steps.generate_messages``).
"""

import os

import requests


def handler(pd):
    base = os.environ["MSGRELAY_URL"].rstrip("/")
    headers = {"Authorization": f"Bearer {os.environ['MSGRELAY_API_TOKEN']}"}
    leads = pd.steps["trigger"]["event"]["body"]["leads"]
    inputs = {
        "leads": leads,
        "sequence": pd.inputs.get("sequence", "connection_request,first_follow_up"),
        "customer_id": pd.inputs["customer_id"],
        "campaign_id": pd.inputs["campaign_id"],
        "campaign_name": pd.inputs["campaign_name"],
        "company_name": pd.inputs["company_name"],
        "company_url": pd.inputs["company_url"],
        "notify_url": pd.inputs["notify_url"],
    }
    answer = requests.post(f"{base}/v1/steps/generate", json=inputs, headers=headers, timeout=60)
    if answer.status_code != 200:
        error = answer.json()["error"]
        # One line naming the broken input (error.problems[].path), shown in Pipedream's step log.
        raise RuntimeError(f"msgrelay {error['type']}: {error['message']}")
    ticket = answer.json()
    relayed = requests.post(
        f"{base}/v1/steps/relay",
        json={"secure_request_id": ticket["secure_request_id"], "max_wait": 120},
        headers=headers,
        timeout=180,
    )
    relayed.raise_for_status()
    # ``deliveries``: the generation's deliveries by state, e.g. {"delivered": 2}.
    return {"secure_request_id": ticket["secure_request_id"], "deliveries": relayed.json()["deliveries"]}
