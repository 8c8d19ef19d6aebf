"""Small hand-written H&M files for tests that need exact, known rows (good and hostile)."""
from __future__ import annotations

from pathlib import Path

from fashion_pipeline.schemas import ARTICLES_COLUMNS, CUSTOMERS_COLUMNS, TRANSACTIONS_COLUMNS

CUSTOMER_IDS = [c * 64 for c in "abc"]
ARTICLE_IDS = ["0108775015", "0108775044", "0110065001"]


def article_line(article_id: str, prod_name: str = "Strap top", detail_desc: str = "Jersey top with narrow straps.") -> str:
    product_code = article_id[:7]
    values = [
        article_id, product_code, prod_name, "253", "Vest top", "Garment Upper body", "1010016", "Solid",
        "09", "Black", "4", "Dark", "5", "Black", "1676", "Jersey Basic", "A", "Ladieswear", "1",
        "Ladieswear", "16", "Womens Everyday Basics", "1002", "Jersey Basic", detail_desc,
    ]
    return ",".join(_quote(v) for v in values)


def _quote(value: str) -> str:
    if any(ch in value for ch in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_hm_files(directory: Path, transactions: list[str], articles: list[str] | None = None,
                   customers: list[str] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if articles is None:
        articles = [
            article_line(ARTICLE_IDS[0]),
            article_line(ARTICLE_IDS[1], prod_name="Tröja «Ünïcødé» 毛衣", detail_desc='Soft, "cosy"\nknit.'),
            article_line(ARTICLE_IDS[2], prod_name="Body", detail_desc=""),
        ]
    if customers is None:
        customers = [
            f"{CUSTOMER_IDS[0]},,,ACTIVE,NONE,49,{'d' * 64}",
            f"{CUSTOMER_IDS[1]},1.0,1.0,ACTIVE,Regularly,25,{'d' * 64}",
            f"{CUSTOMER_IDS[2]},,,,,,{'e' * 64}",
        ]
    (directory / "articles.csv").write_text("\n".join([",".join(ARTICLES_COLUMNS), *articles]) + "\n", encoding="utf-8")
    (directory / "customers.csv").write_text("\n".join([",".join(CUSTOMERS_COLUMNS), *customers]) + "\n", encoding="utf-8")
    (directory / "transactions_train.csv").write_text(
        "\n".join([",".join(TRANSACTIONS_COLUMNS), *transactions]) + "\n", encoding="utf-8"
    )
    return directory


def transaction_line(t_dat="2020-09-01", customer=CUSTOMER_IDS[0], article=ARTICLE_IDS[0], price="0.0508305084745762", channel="2") -> str:
    return ",".join([t_dat, customer, article, price, channel])
