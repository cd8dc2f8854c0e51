"""The shipped sample for ``math``: seeded word problems with exact answers and worked
solutions, written by this generator (not taken from any dataset), so the task, its tests
and the docs run offline.

Each problem is a short story of one to three arithmetic steps (``easy``: 1, ``medium``:
2, ``hard``: 3); every step is exact (division only where it divides, except the
``share`` story whose answer is a fraction such as ``7/2``). A row is
``{"question", "answer", "solution", "difficulty"}``; the solution is the steps in words
(``5 * 7 = 35``) and its last line states the answer.

    python -m sparring.tasks.math.sample            # rewrites data/sample.jsonl (SIZE rows)
"""

from __future__ import annotations

import json
import os
import random
from fractions import Fraction
from pathlib import Path

SIZE = 600
SEED = 2024
PATH = Path(__file__).parent / "data" / "sample.jsonl"
DIFFICULTY = {1: "easy", 2: "medium", 3: "hard"}
NAMES = ("Mia", "Noah", "Ava", "Liam", "Zoe", "Omar", "Lena", "Ravi", "Sara", "Tom", "Yuki", "Ines")
ITEMS = ("apples", "stickers", "marbles", "pencils", "cookies", "stamps", "cards", "shells")


def _fmt(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def _stock(rng: random.Random, steps: int) -> tuple[str, list[str], Fraction]:
    """Packs bought, more found, some given away: x = a*b (+ c) (- d)."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(2, 12), rng.randint(3, 15)
    x = a * b
    text = [f"{name} buys {a} packs of {item} with {b} {item} in each pack."]
    sol = [f"{name} buys {a} * {b} = {x} {item}."]
    if steps >= 2:
        c = rng.randint(2, 40)
        text.append(f"A friend then gives {name} {c} more {item}.")
        sol.append(f"With the gift {name} has {x} + {c} = {x + c} {item}.")
        x += c
    if steps >= 3:
        d = rng.randint(1, x - 1)
        text.append(f"{name} gives {d} {item} to a sister.")
        sol.append(f"After giving some away, {x} - {d} = {x - d} {item} are left.")
        x -= d
    text.append(f"How many {item} does {name} have now?")
    return " ".join(text), sol, Fraction(x)


def _savings(rng: random.Random, steps: int) -> tuple[str, list[str], Fraction]:
    """Weekly savings, a purchase, the rest split: x = a*b (- c) (/ k)."""
    name = rng.choice(NAMES)
    a, b = rng.randint(3, 25), rng.randint(2, 12)
    x = a * b
    text = [f"{name} saves {a} dollars every week for {b} weeks."]
    sol = [f"{name} saves {a} * {b} = {x} dollars."]
    if steps >= 2:
        c = rng.randint(1, x - 1)
        text.append(f"Then {name} spends {c} dollars on a game.")
        sol.append(f"After the game {x} - {c} = {x - c} dollars remain.")
        x -= c
    if steps >= 3:
        k = rng.choice([d for d in range(2, 9) if x % d == 0] or [1])
        if k == 1:  # nothing divides: give the rest to one person
            text.append(f"{name} puts all of the money left into one jar.")
            sol.append(f"One jar holds all of it: {x} / 1 = {x} dollars.")
        else:
            text.append(f"{name} splits the money left equally into {k} jars.")
            sol.append(f"Each jar gets {x} / {k} = {x // k} dollars.")
            x //= k
    text.append("How many dollars " + ("are in each jar?" if steps >= 3 else "does " + name + " have?"))
    return " ".join(text), sol, Fraction(x)


def _trip(rng: random.Random, steps: int) -> tuple[str, list[str], Fraction]:
    """Speed times hours, plus a leg, minus the part already driven."""
    v, h = rng.randint(20, 90), rng.randint(2, 6)
    x = v * h
    text = [f"A bus drives at {v} km per hour for {h} hours."]
    sol = [f"The first part is {v} * {h} = {x} km."]
    if steps >= 2:
        e = rng.randint(5, 60)
        text.append(f"It then drives another {e} km.")
        sol.append(f"In all it drives {x} + {e} = {x + e} km.")
        x += e
    if steps >= 3:
        t = rng.randint(x + 10, x + 400)
        text.append(f"The whole route is {t} km long.")
        sol.append(f"Still to go: {t} - {x} = {t - x} km.")
        x = t - x
        text.append("How many km are still to go?")
    else:
        text.append("How many km does it drive?")
    return " ".join(text), sol, Fraction(x)


def _share(rng: random.Random, steps: int) -> tuple[str, list[str], Fraction]:
    """Pizzas (bought in boxes) shared by friends: a fraction answer."""
    name = rng.choice(NAMES)
    boxes, per, friends = rng.randint(2, 5), rng.randint(2, 4), rng.randint(2, 9)
    n = boxes * per if steps >= 2 else rng.randint(3, 20)
    text, sol = [], []
    if steps >= 2:
        text.append(f"{name} orders {boxes} boxes with {per} pizzas in each box.")
        sol.append(f"There are {boxes} * {per} = {n} pizzas.")
    else:
        text.append(f"{name} has {n} pizzas.")
    if steps >= 3:
        eaten = rng.randint(1, n - 1)
        text.append(f"{eaten} pizzas are eaten at lunch.")
        sol.append(f"After lunch {n} - {eaten} = {n - eaten} pizzas are left.")
        n -= eaten
    x = Fraction(n, friends)
    text.append(f"The {'rest is' if steps >= 3 else 'pizzas are'} shared equally by {friends} friends.")
    text.append("How many pizzas does each friend get? (Give a fraction if it is not whole.)")
    sol.append(f"Each friend gets {n} / {friends} = {_fmt(x)} pizzas.")
    return " ".join(text), sol, x


STORIES = (_stock, _savings, _trip, _share)


def generate(n: int = SIZE, seed: int = SEED) -> list[dict]:
    """``n`` distinct rows, deterministic in ``seed``."""
    rng = random.Random(seed)
    rows: dict[str, dict] = {}
    while len(rows) < n:
        steps = rng.choice((1, 2, 3))
        question, sol, x = rng.choice(STORIES)(rng, steps)
        answer = _fmt(x)
        sol.append(f"The answer is {answer}.")
        rows.setdefault(question, {"question": question, "answer": answer, "solution": "\n".join(sol)})
        rows[question]["difficulty"] = DIFFICULTY[steps]
    return list(rows.values())


def write(path: Path = PATH, n: int = SIZE, seed: int = SEED) -> Path:
    """Write the rows as JSON lines (aside, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in generate(n, seed)))
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    print(write())
