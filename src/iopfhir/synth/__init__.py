"""A realistic synthetic IOP cohort in the input format, for integrators' tests and benchmarks.

``synth_episodes(n, seed)`` yields ``n`` episodes, deterministic for a seed: programs of
each kind (mental health, substance use, co-occurring), a referral (often after an
inpatient stay), a multidisciplinary team drawn from a shared staff pool (the same NPIs
recur across patients, as in a real program), diagnoses, the three care plans, three
program days a week of sessions over six to ten weeks (with telehealth, no-shows,
cancellations and family sessions), and instruments every two weeks. Outcomes are
realistic: each patient's course (:mod:`.outcomes`) makes them a responder, a partial or
non-responder or worse, maybe a dropout, keeping or missing aftercare, and, with
``readmissions=True``, readmitted to inpatient care (their next episode). Everything is
fictional.

Imports the domain and terminology only. Layout (imports point up the list)::

    pools.py     names, diagnoses, roles, the staff pool shared by the cohort
    outcomes.py  the patient's course: trajectory, dropout, readmission, aftercare
    people.py    the episode's frame (kind, dates), team, support, diagnoses, patient
    plans.py     the treatment, relapse-prevention and aftercare plans
    schedule.py  the sessions, three program days a week and family sessions
    measures.py  instruments every two weeks, scores that mostly improve
    episode.py   one episode from its parts, in the order of their random draws
"""

from .episode import synth_episode_data, synth_episodes

__all__ = ["synth_episode_data", "synth_episodes"]
