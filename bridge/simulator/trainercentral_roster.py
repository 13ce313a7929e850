"""The TrainerCentral simulator's learners: `GET /api/v4/<orgId>/portalMembers.json?type=5`.

Pages with limit/si like talks.json and answers `{portalMembers: [...], meta: {totalCount}}`,
every value a string; each learner is `{userId, name, emailId, role: "3", status: "1"}`. The
docs list the endpoint but show no answer, so this shape is the simulator's guess (the client
reads any of several: docs/upstream-apis.md, *Participants: roster*).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.simulator.trainercentral_seed import SimMember

PORTAL_MEMBERS = "portalMembers.json"


def seed_learners(count: int = 40) -> list[SimMember]:
    """`count` learners (role 3), deterministic."""
    return [
        SimMember(f"8000000{i:04d}", f"Learner {i} Çelik", f"learner{i}@academy.example", "3")
        for i in range(count)
    ]


def portal_members_page(
    learners: list[SimMember], args: Mapping[str, str], limit: int, start: int
) -> tuple[int, dict[str, Any]]:
    """(status, body) for one page; only type 5 (learners) is simulated."""
    if args.get("type", "5") != "5":
        return 400, {"code": "INVALID_DATA", "message": "only type=5 (learners) is simulated"}
    page = learners[start : start + limit]
    members = [
        {"userId": m.user_id, "name": m.name, "emailId": m.email, "role": m.role, "status": "1"}
        for m in page
    ]
    return 200, {"portalMembers": members, "meta": {"totalCount": str(len(learners))}}
