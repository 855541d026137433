"""toloka-kit 1.2.3 against the emulator's skills, user skills and restrictions, run by ``.venv-kit/bin/python``.

Usage: ``kit_skills.py EMULATOR_URL USER_ID``. Kit creates, finds, updates a skill; sets, reads and deletes a
Toloker's value; sets, finds and deletes bans in each scope; and puts its own shape of skill filter on a pool.
Prints one JSON line of what it saw.
"""

from __future__ import annotations

import datetime
import json
import sys
from decimal import Decimal

from toloka.client import Pool, TolokaClient
from toloka.client.filter import Skill as SkillFilter
from toloka.client.skill import Skill
from toloka.client.user_restriction import (
    AllProjectsUserRestriction,
    PoolUserRestriction,
    ProjectUserRestriction,
)


def main(base_url: str, user_id: str) -> None:
    client = TolokaClient("any-token", url=base_url, retries=0)
    skill = client.create_skill(Skill(name="kit skill", public_name={"EN": "Kit"}, hidden=True))
    skill.name = "kit skill 2"
    updated = client.update_skill(skill.id, skill)
    found = [s.id for s in client.get_skills(name="kit skill 2")]
    first = client.set_user_skill(skill_id=skill.id, user_id=user_id, value=Decimal("59.7"))
    second = client.set_user_skill(skill_id=skill.id, user_id=user_id, value=Decimal(80))
    listed = [u.id for u in client.get_user_skills(user_id=user_id)]
    client.delete_user_skill(second.id)
    after_delete = [u.id for u in client.get_user_skills(user_id=user_id)]
    until = datetime.datetime.utcnow() + datetime.timedelta(days=1)
    bans = [
        client.set_user_restriction(PoolUserRestriction(user_id=user_id, pool_id="5", private_comment="c")),
        client.set_user_restriction(
            ProjectUserRestriction(user_id=user_id, project_id="6", will_expire=until)
        ),
        client.set_user_restriction(AllProjectsUserRestriction(user_id=user_id)),
    ]
    by_scope = sorted(
        str(r.scope.value if hasattr(r.scope, "value") else r.scope)
        for r in client.get_user_restrictions(user_id=user_id)
    )
    client.delete_user_restriction(bans[2].id)
    left = len(list(client.get_user_restrictions(user_id=user_id)))
    rule = (SkillFilter(skill.id) >= 70) | (SkillFilter(skill.id) == None)  # noqa: E711 - kit's "lacks the skill"
    pool = Pool(project_id="1", private_name="p", reward_per_assignment=0.01, will_expire=until, filter=rule)
    print(
        json.dumps(
            {
                "skill": [skill.id is not None, updated.id == skill.id, updated.name, found == [skill.id]],
                "user_skill": [
                    str(first.value),
                    str(first.exact_value),
                    first.id == second.id,
                    listed,
                    after_delete,
                ],
                "restrictions": [[b.id is not None for b in bans], type(bans[1]).__name__, by_scope, left],
                "skill_id": skill.id,
                "filter": pool.unstructure()["filter"],  # what kit sends in a pool body
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
