"""Knowledge competitions (知识竞赛): set up by the street with their rounds and how many places
(ranks) are honoured; a result must name a set-up competition, one of its rounds and a rank within
its places. The rank travels into the honour (`place` on honour.nominated/awarded.v1)."""

from __future__ import annotations

from dataclasses import dataclass

from services.scoring.domain.selection import Refused


@dataclass(frozen=True)
class Competition:
    competition_id: str
    name_zh: str
    name_en: str
    rounds: int
    places: int

    def same_setup(self, other: Competition) -> bool:
        return (self.name_zh, self.name_en, self.rounds, self.places) == (
            other.name_zh, other.name_en, other.rounds, other.places)  # fmt: skip


def check_results(competition: Competition | None, competition_id: str, round_no: int, places: list[int]) -> None:
    """Refuses (422, naming the field) results of an unknown competition, a round it does not have,
    or a rank beyond its places."""
    if competition is None:
        raise Refused(f"no competition {competition_id} has been set up (POST /v1/competitions first)",
                      field="competition_id", conflict=False)  # fmt: skip
    if not 1 <= round_no <= competition.rounds:
        raise Refused(f"competition {competition_id} has rounds 1 to {competition.rounds}, not {round_no}",
                      field="round", conflict=False)  # fmt: skip
    for i, place in enumerate(places):
        if not 1 <= place <= competition.places:
            raise Refused(f"competition {competition_id} honours places 1 to {competition.places}, not {place}",
                          field=f"results.{i}.place", conflict=False)  # fmt: skip
