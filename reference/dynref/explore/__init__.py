"""The explorers: seeded swarm runs, bounded exhaustive search, a trace shrinker, diagrams.

All pure (seeds are inputs, draws come from `dynref.prng`); the `dynref explore`, `replay` and
`search` commands in `dynref_io` add processes, timing and files around them.

- `swarm.run_seed(seed, SwarmSettings(...)) -> SeedOutcome`: one seed draws its fault profile
  and workload (`profile.draw_profile`), runs a schedule, quiesces, stages one replica down
  (`degraded.degraded_phase`), quiesces again, and is judged by every checker;
  `swarm.shrink_outcome(outcome, invariant)` shrinks a failing one.
- `shrink.shrink(config, clients, schedule, invariant)`: delta debugging over a schedule,
  judged by replay.
- `exhaustive.search(SearchSettings(...)) -> SearchReport`: breadth-first search over every
  schedule of a tiny cluster, with state hashing (`statekey.StateKeys`), and the shortest
  counterexample when there is one.
- `diagram.text_diagram(trace, violations)`, `diagram.html_diagram(trace, violations)`: a trace
  as a sequence diagram (rows built by `sequence.sequence_of`, SVG drawn by `svg`).
- `summary.SwarmTally`: sums many seeds' outcomes; `judge.judge(cluster)`: the black-box
  checks over the run's History, the white-box extras, what only the run's intermediate states
  show (`judge.Midway`: INV-AVAIL-1, each converged quiescence a disk loss followed) and the
  sometimes-property counts, as one verdict.
"""
