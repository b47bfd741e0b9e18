"""A job's lineage (learning.records.lineage): the schedule that trained a checkpoint of
the job is its schedule before any later exploit, so a donor that exploited after its
checkpoint was copied still gives the copy's true history; files round-trip."""

from __future__ import annotations

from learning.records.lineage import Exploit, Lineage, ScheduleEntry, read_lineage, write_lineage

LR = "config.rl_config.learning_rate"


def exploit(iteration: int, donor: int, before: list[ScheduleEntry], after: float) -> Exploit:
    return Exploit(iteration=iteration, donor=donor, donor_iteration=iteration, own_value=0.0,
                   donor_value=1.0, before=dict(before[-1].values), donor_values={LR: 9.0},
                   after={LR: after}, moves={LR: "x1.2"}, timesteps=[100 * iteration],
                   model_sha256=["0" * 64], time=0.0, schedule_before=before)


def test_checkpoints_before_an_exploit_keep_their_own_history():
    """Job 3 starts at 1.0, takes job 0's model after iteration 1 (job 0's history: 5.0;
    explored: 6.0), then job 4's after iteration 3 (its history 8.0, then 8.5 from 2;
    explored: 7.0)."""
    first = [ScheduleEntry(0, {LR: 1.0})]
    second = [ScheduleEntry(0, {LR: 5.0}), ScheduleEntry(1, {LR: 6.0})]
    final = [ScheduleEntry(0, {LR: 8.0}), ScheduleEntry(2, {LR: 8.5}), ScheduleEntry(3, {LR: 7.0})]
    lineage = Lineage(job_id=3, mutations=[LR], schedule=final,
                      exploits=[exploit(1, 0, first, 6.0), exploit(3, 4, second, 7.0)])
    assert lineage.schedule_of_checkpoint(1) == first  # its own values, before both
    assert lineage.schedule_of_checkpoint(2) == second  # job 0's model, then explored
    assert lineage.schedule_of_checkpoint(3) == second
    assert lineage.schedule_of_checkpoint(4) == final  # job 4's history, then explored
    assert lineage.values_at(1) == {LR: 8.0} and lineage.values_at(3) == {LR: 7.0}


def test_without_exploits_the_schedule_is_cut_at_the_iteration():
    schedule = [ScheduleEntry(0, {LR: 1.0}), ScheduleEntry(2, {LR: 2.0})]
    lineage = Lineage(job_id=0, mutations=[LR], schedule=schedule)
    assert lineage.schedule_of_checkpoint(2) == schedule[:1]
    assert lineage.schedule_of_checkpoint(3) == schedule


def test_file_round_trip_keeps_the_schedule_before(tmp_path):
    lineage = Lineage(job_id=2, mutations=[LR], schedule=[ScheduleEntry(0, {LR: 5.0}),
                                                          ScheduleEntry(1, {LR: 6.0})],
                      exploits=[exploit(1, 0, [ScheduleEntry(0, {LR: 1.0})], 6.0)])
    path = tmp_path / "job_2.json"
    write_lineage(path, lineage)
    assert read_lineage(path) == lineage
