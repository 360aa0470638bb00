"""The hooks that let a higher app take part in a generation's writes: `generation_creating`,
sent inside create_generation's transaction, and `CreateRefused`, the refusal a receiver
raises; `generation_charged`, sent inside a transition's transaction when it wrote what the
row counts for in spend (units_charged), so review's spend rollup stays exact.

Why a signal. The budget guard belongs to review (budgets, pricing, charges), which sits
above generations in the app graph (docs/architecture.md), yet it must run in the same
transaction that saves the row, so that a refused job leaves no row, no charge and sends
nothing (docs/reliability.md R22). The other ways were worse:
- a guard the caller passes in (a hook argument to create_generation) must be passed by
  every caller: the studio form, run again, batches, recipes. One forgotten caller sends
  paid jobs past the budget, and nothing would notice;
- moving the check into generations would make it own pricing and budgets, review's
  concerns, and import them back down.
A receiver connected once, in ReviewConfig.ready, runs for every caller. It is sent with
`send`, not `send_robust`: a receiver's exception must propagate, rolling the row back and
reaching the caller (send_robust would log it and let the job through). Callers catch
CreateRefused, so they need not know which app refused; review.budgets.OverBudget is one.
"""

from __future__ import annotations

from django.dispatch import Signal


class CreateRefused(Exception):
    """A receiver of generation_creating refused the job; the message says why, to the user.
    Nothing was saved and nothing is sent."""


# Sent with sender=Generation and generation=<the row, saved in the open transaction, not
# committed>. A receiver may write in that transaction; raising CreateRefused rolls it back.
generation_creating = Signal()

# Sent with sender=Generation and generation=<the row, its new units_charged and status set>
# by a transition that wrote units_charged, inside the transaction of that write: a
# receiver's writes commit or roll back with it (review keeps its spend rollup so).
generation_charged = Signal()

# Sent with sender=Generation and generation=<the row, its final status set> by the
# transition that made it final (succeeded or failed; each row becomes final once), inside
# that transition's transaction: library keeps its prompts' run counters so.
generation_finished = Signal()

# Sent with sender=Generation, generation=<the row> and shared=<True or False> when a
# verdict put the video into the team's view (team_visible) or took it out, inside the
# review's transaction (mark_reviewed): library counts each prompt's team-visible videos.
generation_shared = Signal()
