"""toloka-kit 1.2.3's ``quality_control.add_action`` against the emulator, run by ``.venv-kit/bin/python``.

Usage: ``kit_quality.py EMULATOR_URL``. Kit builds a pool with a golden-set ban, a fast-submission ban and a
majority-vote skill and a rejected suite redone (assessment),
creates it, reads it back, and clones it. Prints one JSON line of what it saw.
"""

from __future__ import annotations

import datetime
import json
import sys

from toloka.client import Pool, Project, TolokaClient
from toloka.client.actions import ChangeOverlap, RestrictionV2, SetSkillFromOutputField
from toloka.client.collectors import AssignmentsAssessment, AssignmentSubmitTime, GoldenSet, MajorityVote
from toloka.client.conditions import (
    AssessmentEvent,
    FastSubmittedCount,
    GoldenSetAnswersCount,
    GoldenSetCorrectAnswersRate,
    TotalAnswersCount,
    TotalSubmittedCount,
)
from toloka.client.project import ClassicViewSpec
from toloka.client.project.field_spec import StringSpec
from toloka.client.project.task_spec import TaskSpec
from toloka.client.skill import Skill


def main(base_url: str) -> None:
    client = TolokaClient("any-token", url=base_url, retries=0)
    project = client.create_project(
        Project(
            public_name="qc",
            public_description="qc",
            task_spec=TaskSpec(
                input_spec={"text": StringSpec()},
                output_spec={"label": StringSpec(allowed_values=["pos", "neg"])},
                view_spec=ClassicViewSpec(markup="<p>{{text}}</p>", script="", styles=""),
            ),
        )
    )
    skill = client.create_skill(Skill(name="kit qc", hidden=True))
    until = datetime.datetime.utcnow() + datetime.timedelta(days=1)
    pool = Pool(
        project_id=project.id,
        private_name="kit qc",
        reward_per_assignment=0.01,
        assignment_max_duration_seconds=600,
        will_expire=until,
        defaults={"default_overlap_for_new_task_suites": 3},
    )
    pool.quality_control.add_action(
        collector=GoldenSet(history_size=10),
        conditions=[GoldenSetAnswersCount >= 3, GoldenSetCorrectAnswersRate < 60],
        action=RestrictionV2(scope="PROJECT", duration=10, duration_unit="DAYS", private_comment="controls"),
    )
    pool.quality_control.add_action(
        collector=AssignmentSubmitTime(history_size=5, fast_submit_threshold_seconds=20),
        conditions=[TotalSubmittedCount >= 5, FastSubmittedCount >= 3],
        action=RestrictionV2(scope="POOL", duration=1, duration_unit="HOURS"),
    )
    pool.quality_control.add_action(
        collector=MajorityVote(answer_threshold=2, history_size=10),
        conditions=[TotalAnswersCount >= 4],
        action=SetSkillFromOutputField(skill_id=skill.id, from_field="correct_answers_rate"),
    )
    pool.quality_control.add_action(
        collector=AssignmentsAssessment(),
        conditions=[AssessmentEvent == AssessmentEvent.REJECT],
        action=ChangeOverlap(delta=1, open_pool=True),
    )
    sent = pool.unstructure()["quality_control"]
    created = client.create_pool(pool)
    back = client.get_pool(created.id)
    uuids = [c.collector_config.uuid for c in back.quality_control.configs]
    print(
        json.dumps(
            {
                "sent_uuids": [c["collector_config"].get("uuid") for c in sent["configs"]],
                "types": [type(c.collector_config).__name__ for c in back.quality_control.configs],
                "actions": [type(c.rules[0].action).__name__ for c in back.quality_control.configs],
                "uuids": [str(u) for u in uuids],
                "conditions": [len(c.rules[0].conditions) for c in back.quality_control.configs],
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
