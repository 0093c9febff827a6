"""Cost of one render, the step that runs once per recipient. Prints figures.

    python benchmarks/render_bench.py                 # 100,000 renders of each template
    python benchmarks/render_bench.py --renders 20000

Each template is rendered with the demo's rows (pipelines/data/customers.csv, cycled) the way a
pipeline renders them (`render.render`, one call per recipient), after one warm-up pass. The
loop templates show what a pass through a `{% for %}` costs, since the limits count them.
Then the template bombs of issue 10, each refused by the limits: how long the refusal takes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from masgsm_notify.errors import RenderError
from masgsm_notify.render import compile_text, load_template, make_environment, render
from masgsm_notify.sources import CsvSource, SourceContext

ROOT = Path(__file__).resolve().parent.parent
INLINE = {
    "inline: a loop over 20 items": (
        "{% for item in items %}{{ item }}{% if not loop.last %}, {% endif %}{% endfor %}"
    ),
    "inline: two nested loops, 10 x 10": (
        "{% for a in range(10) %}{% for b in range(10) %}{{ a * b }}{% endfor %}{% endfor %}"
    ),
    "inline: filters and a concatenation": (
        "{{ (name ~ ' / ' ~ order)|center(60)|replace(' ', '.')|truncate(50) }}"
    ),
}


BOMBS = {
    "center(300000000)": "{{ 'x'|center(300000000) }}",
    "'{:>300000000}'.format": "{{ '{:>300000000}'.format('x') }}",
    "replace that multiplies": "{{ ('x'*100000)|replace('x','x'*100000) }}",
    "two nested range(100000) loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    ),
}


def rows() -> list[dict]:
    context = SourceContext(base_dir=ROOT / "pipelines", input=None, where="csv")
    found = [fields for _, fields in CsvSource("data/customers.csv", {}, context).rows()]
    return [{**fields, "row": fields, "items": list(range(20))} for fields in found]


def measure(renderer, contexts: list[dict], renders: int) -> float:
    """Microseconds per render, best of three passes, in CPU time: on a shared machine, the
    time other processes take does not count."""
    best = float("inf")
    count = len(contexts)
    for context in contexts:
        render(renderer, context, "warm-up")
    for _ in range(3):
        start = time.thread_time()
        for index in range(renders):
            render(renderer, contexts[index % count], "bench")
        best = min(best, time.thread_time() - start)
    return best / renders * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=100_000, help="renders per template")
    parser.add_argument(
        "--no-bombs", action="store_true", help="skip the bombs (to time an unbounded version)"
    )
    args = parser.parse_args()
    env = make_environment([ROOT / "templates"])
    env.globals.update(vars={"shop": "ACME Mağaza", "reply_to": "4607"})
    contexts = rows()
    renderers = {"templates/shipping_notice.txt.j2": load_template(env, "shipping_notice.txt.j2")}
    renderers.update({name: compile_text(env, text, name) for name, text in INLINE.items()})
    print(f"{args.renders:,} renders each, {len(contexts)} rows cycled")
    for name, renderer in renderers.items():
        print(f"  {name:<45} {measure(renderer, contexts, args.renders):7.2f} µs per render")
    bombs = {} if args.no_bombs else BOMBS
    if bombs:
        print("template bombs, refused:")
    for name, source in bombs.items():
        renderer = compile_text(env, source, name)
        start = time.thread_time()
        try:
            render(renderer, contexts[0], "bench")
        except RenderError:
            pass
        else:
            raise SystemExit(f"{name} was not refused")
        print(f"  {name:<45} {(time.thread_time() - start) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
