"""Write the 150 SciFact abstracts of the second unseen-documents review as Markdown files.

`bench/unseen2-questions.jsonl` asks 45 questions (32 answerable, 13 near misses) of them and of
the two smaller MediaWiki dumps in ../shared/eval/mediawiki (docs/EVALUATION.md section 4):

    python -m bench.unseen_docs ../shared/eval/beir-scifact/corpus.jsonl /tmp/unseen2/docs
    export HEARTH_DATA_DIR=/tmp/unseen2/data
    hearth ingest /tmp/unseen2/docs
    hearth ingest ../shared/eval/mediawiki/enwiki-table-markup.xml.bz2
    hearth ingest ../shared/eval/mediawiki/smallwiki-latest-pages-articles.xml
    hearth eval bench/unseen2-questions.jsonl --answer

Each abstract becomes `scifact/<id>.md`: its title as a heading, then its text.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# drawn at random (seed 20240607) from the 5,183 abstracts by the review's helper
ABSTRACTS = (
    "120626",
    "437924",
    "502591",
    "649951",
    "829646",
    "1070920",
    "1084345",
    "1285713",
    "1616661",
    "1709625",
    "1921218",
    "2015126",
    "2139357",
    "2853685",
    "3441524",
    "3444507",
    "3446400",
    "3580005",
    "4385779",
    "4387494",
    "4388082",
    "4695046",
    "4951831",
    "5253987",
    "5503194",
    "5641851",
    "5884524",
    "6070278",
    "6315132",
    "6690087",
    "7370282",
    "7734150",
    "7821634",
    "8069939",
    "8082528",
    "8087082",
    "8298120",
    "8327914",
    "8610932",
    "8771704",
    "8774475",
    "8839502",
    "9600826",
    "9784254",
    "10165723",
    "10300888",
    "10326242",
    "10335603",
    "10675756",
    "10982689",
    "10991183",
    "11420613",
    "11498670",
    "11902109",
    "11943989",
    "12217662",
    "12411274",
    "12470783",
    "12641252",
    "12658073",
    "12800122",
    "13002003",
    "13277118",
    "13757347",
    "13964633",
    "14019636",
    "14652521",
    "15360986",
    "15414628",
    "15551129",
    "15559582",
    "16422880",
    "17077004",
    "17768946",
    "17925632",
    "18074797",
    "18084826",
    "18104691",
    "18111172",
    "18263406",
    "20326526",
    "20610557",
    "20645538",
    "20767776",
    "21063817",
    "21230110",
    "21274496",
    "21383026",
    "21602220",
    "22948960",
    "23206239",
    "23245050",
    "24148722",
    "24414345",
    "24443043",
    "24554740",
    "24721866",
    "24922825",
    "25052749",
    "25261168",
    "25263810",
    "25677651",
    "25830701",
    "25985964",
    "26089649",
    "26108767",
    "26899920",
    "27129115",
    "27188320",
    "27306942",
    "27731651",
    "27900414",
    "27944135",
    "28562710",
    "28697248",
    "28724565",
    "29148743",
    "29253460",
    "29981186",
    "31070360",
    "32787042",
    "32927401",
    "33387953",
    "33684572",
    "33904473",
    "34034749",
    "34071621",
    "35621259",
    "36480032",
    "36623997",
    "36830715",
    "36962270",
    "38296571",
    "38410121",
    "39532074",
    "41337677",
    "42279414",
    "42314147",
    "43419566",
    "44366096",
    "45461275",
    "45651303",
    "46193388",
    "46451940",
    "46594244",
    "46617075",
    "72372925",
    "83707680",
    "143868995",
    "168265642",
)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python -m bench.unseen_docs CORPUS_JSONL OUT_DIR", file=sys.stderr)
        return 2
    corpus, out = Path(argv[0]), Path(argv[1]) / "scifact"
    wanted = set(ABSTRACTS)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record["_id"] in wanted:
                text = f"# {record['title']}\n\n{record['text']}\n"
                (out / f"{record['_id']}.md").write_text(text, encoding="utf-8")
                written += 1
    print(f"wrote {written} of {len(wanted)} abstracts to {out}")
    return 0 if written == len(wanted) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
