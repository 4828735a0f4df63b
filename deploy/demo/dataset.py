"""A realistic, reproducible Pinghu street for the demo: venues, courses, residents.

Everything is generated from a seed, so two runs load the same street. Community shares come
from reference/pinghu/communities.yaml; the audience mix follows Shenzhen's young working
population (adults dominate; elderly ~7%, children and adolescents ~20%).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from shared.reference import DEFAULT_DIR, load_reference

ROOT = Path(__file__).resolve().parents[2]

AUDIENCE_MIX = [("adult", 0.58), ("elderly", 0.09), ("child", 0.13), ("adolescent", 0.09),
                ("infant", 0.04), ("special", 0.07)]  # fmt: skip
VENUE_TYPES = [
    ("party_mass_service_centre", "党群服务中心", "Party-and-mass service centre", 12),
    ("library", "图书馆分馆", "Library branch", 10),
    ("elderly_university", "老年大学教学点", "Elderly university", 6),
    ("community_school", "社区学校", "Community school", 10),
    ("theme_education_base", "主题教育基地", "Theme-education base", 6),
    ("enterprise_site", "企业学习点", "Enterprise learning site", 6),
]
PROVIDERS = [("school_teacher", 0.25), ("training_lecturer", 0.2), ("doctor", 0.12), ("counsellor", 0.08),
             ("industry_leader", 0.1), ("volunteer", 0.25)]  # fmt: skip
COURSE_TITLES = {
    "safety": [("消防安全进社区", "Fire safety in the community"), ("防范电信诈骗", "Avoiding phone scams")],
    "civility": [("文明礼仪讲堂", "Civility and etiquette"), ("垃圾分类实践", "Waste sorting in practice")],
    "traditional_culture": [("书法入门", "Calligraphy for beginners"), ("客家山歌", "Hakka folk songs")],
    "vocational_digital": [("智能手机课堂", "Smartphone class"), ("电商直播技能", "E-commerce live streaming")],
    "health": [("慢病管理", "Managing chronic illness"), ("中医养生", "Traditional Chinese medicine and health")],
    "parenting": [("家庭教育沙龙", "Parenting salon"), ("亲子阅读", "Parent-child reading")],
    "party_history": [("东江纵队的故事", "The Dongjiang Column"), ("红色经典诵读", "Reading red classics")],
    "elderly_learning": [("太极拳", "Tai chi"), ("老年合唱", "Seniors' choir")],
    "arts": [("平湖文化客厅·摄影", "Pinghu Cultural Living Room: photography"), ("剪纸艺术", "Paper cutting")],
    "law": [("民法典进万家", "The Civil Code for every family"), ("劳动权益讲座", "Workers' rights")],
    "environment": [("生态环保行", "Green living"), ("节水节能", "Saving water and energy")],
    "reading": [("全民阅读分享会", "Reading circle"), ("书香企业读书会", "Book-Fragrant Enterprise reading club")],
}


@dataclass
class Community:
    id: str
    name_zh: str
    name_en: str
    population: int


@dataclass
class Venue:
    venue_id: str
    community_id: str
    name_zh: str
    name_en: str
    venue_type: str
    capacity: int
    kiosk_ids: list[str]


@dataclass
class Course:
    course_id: str
    title_zh: str
    title_en: str
    theme: str
    audiences: list[str]
    provider_kind: str
    provider_id: str | None
    brand: str | None
    community_id: str


def card_of(resident_id: str) -> str:
    """A demo resident's 18-digit card number (like an identity card's), derived from their id."""
    return "4403" + str(int(hashlib.sha256(resident_id.encode()).hexdigest(), 16))[:14]


@dataclass
class Resident:
    resident_id: str
    community_id: str
    audience_group: str
    family_id: str | None
    employer_id: str | None
    volunteer: bool
    language: str
    phone: str
    email: str | None
    preferred_channel: str
    consent: bool

    @property
    def card_number(self) -> str:
        """The card the resident shows at kiosks: registered with enrolment, scanned by kiosks, and
        known to activities alone; every event names the resident by id (ADR 10). Derived from the
        id, so a rerun registers and scans the same card."""
        return card_of(self.resident_id)

    @property
    def consents(self) -> list[str]:
        """The purposes of the street's privacy notice ticked on the registration form besides
        notifications (`consent`): most keep a learning record, about four in five take surveys.
        Derived from the id, so the rest of the street's random draws stay as they were."""
        draw = int(hashlib.sha256(self.resident_id.encode()).hexdigest()[:8], 16) % 100
        return [p for p, share in (("learning_record", 97), ("surveys", 80)) if draw < share]


@dataclass
class Street:
    communities: list[Community]
    venues: list[Venue]
    courses: list[Course]
    residents: list[Resident]
    themes: list[str] = field(default_factory=list)


def load_communities(reference_dir: Path | None = None) -> tuple[list[Community], list[str]]:
    ref = load_reference(reference_dir or DEFAULT_DIR)
    communities = [Community(c.id, c.name_zh, c.name_en, c.population) for c in ref.communities.values()]
    return communities, list(ref.themes)


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def generate(*, residents: int = 20_000, courses: int = 200, seed: int = 2026, run: str = "demo") -> Street:
    """`run` prefixes every id, so a second demo run on the same stack does not collide."""
    rng = random.Random(seed)
    communities, themes = load_communities()
    total = sum(c.population for c in communities)
    venues: list[Venue] = []
    n = 0
    for venue_type, zh, en, count in VENUE_TYPES:
        for i in range(count):
            community = communities[(n + i) % len(communities)]
            n += 1
            vid = f"{run}-v{n:03d}"
            venues.append(Venue(
                vid, community.id, f"{community.name_zh}{zh}{i + 1}", f"{community.name_en} {en} {i + 1}",
                venue_type, rng.choice([30, 40, 60, 80, 120]), [f"{vid}-k1", f"{vid}-k2"],
            ))  # fmt: skip
    people: list[Resident] = []
    employers = [f"{run}-emp{i:03d}" for i in range(40)]
    family_seq = 0
    weights = [c.population / total for c in communities]
    while len(people) < residents:
        community = rng.choices(communities, weights)[0]
        family_seq += 1
        family_id = f"{run}-fam{family_seq:05d}"
        size = rng.choice([1, 2, 2, 3, 3, 3, 4, 4, 5])
        for _ in range(min(size, residents - len(people))):
            rid = f"{run}-r{len(people):06d}"
            group = _pick(rng, AUDIENCE_MIX)
            employed = group == "adult" and rng.random() < 0.55
            english = rng.random() < 0.08
            people.append(Resident(
                resident_id=rid, community_id=community.id, audience_group=group,
                family_id=family_id if size > 1 else None,
                employer_id=rng.choice(employers) if employed else None,
                volunteer=group in ("adult", "elderly") and rng.random() < 0.04,
                language="en" if english else "zh-CN",
                phone=f"+86139{len(people):08d}", email=f"{rid}@example.org" if rng.random() < 0.6 else None,
                preferred_channel="email" if rng.random() < 0.35 else "sms", consent=rng.random() < 0.92,
            ))  # fmt: skip
    volunteers = [p.resident_id for p in people if p.volunteer]
    course_list: list[Course] = []
    for i in range(courses):
        theme = themes[i % len(themes)]
        zh, en = rng.choice(COURSE_TITLES.get(theme, [(theme, theme)]))
        provider = _pick(rng, PROVIDERS)
        audiences = sorted(rng.sample([a for a, _ in AUDIENCE_MIX], rng.choice([0, 1, 2, 3])))
        if theme == "elderly_learning":
            audiences = ["elderly"]
        course_list.append(Course(
            course_id=f"{run}-c{i:03d}", title_zh=f"{zh}（第{i // len(themes) + 1}期）",
            title_en=f"{en} (cohort {i // len(themes) + 1})", theme=theme, audiences=audiences,
            provider_kind=provider,
            provider_id=rng.choice(volunteers) if provider == "volunteer" and volunteers else f"{run}-p{i:03d}",
            brand="平湖文化客厅 Pinghu Cultural Living Room" if theme in ("arts", "reading") else None,
            community_id=communities[i % len(communities)].id,
        ))  # fmt: skip
    return Street(communities, venues, course_list, people, themes)
