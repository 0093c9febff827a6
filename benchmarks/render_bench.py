"""The per-recipient hot path without I/O: rendering and composing rows. Prints figures.

    python benchmarks/render_bench.py                 # 100,000 rows, best of 5
    python benchmarks/render_bench.py --rows 20000 --repeat 3

The rows of `pipelines/data/customers.csv` are cycled to the requested count and rendered
through `templates/shipping_notice.txt.j2` (the demo's template: `money`, `date('long')`,
`tr_title` and an include), first the template alone, then the whole `Composer` (number,
`when:`, text, clean-up, cost). A second set of rows carries the amounts as a Turkish export
writes them (`1.249,90`) and the dates day first (`27.11.2026`). A few inline templates show
what a pass through a `{% for %}` and a size-checked filter cost, since the limits (`limits:`)
count and measure them; last, the template bombs the limits refuse, and how soon.

Times are this process's CPU time (best of the runs), which a busy machine disturbs far less
than wall-clock time.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from itertools import cycle, islice
from pathlib import Path

from masgsm_notify.compose import Composer
from masgsm_notify.errors import RenderError
from masgsm_notify.render import compile_text, load_template, make_environment, render
from masgsm_notify.sources import CsvSource, SourceContext

ROOT = Path(__file__).resolve().parent.parent
INLINE = {
    "a loop over 20 items": (
        "{% for item in items %}{{ item }}{% if not loop.last %}, {% endif %}{% endfor %}"
    ),
    "two nested loops, 10 x 10": (
        "{% for a in range(10) %}{% for b in range(10) %}{{ a * b }}{% endfor %}{% endfor %}"
    ),
    "filters and a concatenation": (
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


def rows_of(count: int) -> list[tuple[str, dict]]:
    context = SourceContext(base_dir=ROOT / "pipelines", input=None, where="bench")
    found = list(CsvSource("data/customers.csv", {}, context).rows())
    return list(islice(cycle(found), count))


def turkish(rows: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """The same rows with `1249.90` written `1.249,90` and `2026-11-27` written `27.11.2026`."""
    changed = []
    for where, fields in rows:
        whole, _, cents = fields["amount"].partition(".")
        amount = f"{int(whole):,}".replace(",", ".") + "," + (cents or "00")
        year, month, day = fields["eta"].split("-")
        changed.append((where, {**fields, "amount": amount, "eta": f"{day}.{month}.{year}"}))
    return changed


def best(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return min(times)


def measure(label: str, rows: list[tuple[str, dict]], repeat: int) -> None:
    env = make_environment([ROOT / "templates"])
    env.globals["vars"] = {"shop": "ACME", "reply_to": "4607"}
    template = load_template(env, "shipping_notice.txt.j2")
    contexts = [{**fields, "row": fields} for _, fields in rows]
    composer = Composer(compile_text(env, "{{ phone }}", "bench (number)"), template)

    def render_all() -> None:
        for context in contexts:
            template(context)

    def compose_all() -> None:
        done = composer(rows)
        assert len(done.messages) == len(rows), done.invalid[:3]

    n = len(rows)
    try:
        template(contexts[0])
    except Exception as error:  # a version that cannot read these rows
        print(f"{label}: refused ({type(error).__name__}: {error})")
        return
    render = best(repeat, render_all)
    compose = best(repeat, compose_all)
    print(f"{label}: {n:,} rows")
    for name, seconds in (("render only", render), ("compose", compose)):
        per_row = seconds / n * 1e6
        print(f"  {name:12} {seconds:6.3f} s  {per_row:6.2f} us/row  {n / seconds:9,.0f}/s")


def measure_inline(rows: list[tuple[str, dict]], repeat: int) -> None:
    env = make_environment()
    contexts = [{**fields, "row": fields, "items": list(range(20))} for _, fields in rows]
    print(f"inline templates: {len(rows):,} renders each")
    for name, source in INLINE.items():
        template = compile_text(env, source, name)

        def render_all(template=template) -> None:
            for context in contexts:
                template(context)

        per_render = best(repeat, render_all) / len(rows) * 1e6
        print(f"  {name:32} {per_render:6.2f} us/render")


def measure_bombs() -> None:
    env = make_environment()
    print("template bombs, refused by the limits:")
    for name, source in BOMBS.items():
        template = compile_text(env, source, name)
        started = time.process_time()
        try:
            render(template, {}, "bench")
        except RenderError:
            pass
        else:
            raise SystemExit(f"{name} was not refused")
        print(f"  {name:32} {(time.process_time() - started) * 1000:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows to render")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is shown")
    parser.add_argument(
        "--no-bombs", action="store_true", help="skip the bombs (to time an unbounded version)"
    )
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, {sys.platform}")
    rows = rows_of(args.rows)
    measure("demo rows (1249.90, 2026-11-27)", rows, args.repeat)
    measure("Turkish rows (1.249,90, 27.11.2026)", turkish(rows), args.repeat)
    measure_inline(rows, args.repeat)
    if not args.no_bombs:
        measure_bombs()


if __name__ == "__main__":
    main()
