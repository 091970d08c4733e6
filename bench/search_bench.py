"""Message search benchmark (not a test): the embedded tantivy index over ``--n`` archived lines (default
1,000,000) of generated Chinese shop conversations across ``--tenants`` tenants, then search latency p50/p99 over
``--queries`` searches of three kinds: words, words + customer, words + a 7-day range. Target (issue 14):
p99 ≤ 50 ms at 1 million lines. Prints JSON with the CPU it ran on.

Lines are built from hand-written fragments (greetings, products, couriers, order numbers, complaints, agents'
and the bot's replies) so word frequencies look like a shop's: a few very common words (订单, 退款, 快递) and a
long tail. Tenants are uneven (the largest holds ~40%). Each search goes through the same code the API uses
(``TantivyMessageIndex.search``: segmentation, the query, the total count, 20 hits with snippets) in a fresh
reader process-side object, after the writer closed, as the handoff service would read the archiver's index.

Usage: python -m bench.search_bench [--n 1000000] [--tenants 5] [--queries 600] [--batch 50000] [--heap-mb 512]
       [--path DIR] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import cpu  # noqa: E402
from handoff.search import IndexedMessage, MessageQuery  # noqa: E402
from handoff.search.tantivy_backend import TantivyMessageIndex  # noqa: E402

DAY = 86_400.0
START = 1_790_000_000.0  # late 2026; lines spread over 180 days
SPAN_DAYS = 180
PRODUCTS = ("连衣裙", "运动鞋", "蓝牙耳机", "保温杯", "羽绒服", "手机壳", "面膜", "洗发水", "婴儿奶粉", "电饭煲",
            "牛仔裤", "双肩包", "机械键盘", "充电宝", "口红", "床上四件套", "猫粮", "咖啡豆", "跑步机",
            "儿童书包")  # fmt: skip
COURIERS = ("顺丰", "中通", "圆通", "韵达", "申通", "京东物流", "邮政", "极兔")
CITIES = ("北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆", "苏州", "长沙")
CUSTOMER = (
    "你好，我的{p}什么时候发货？", "订单{o}到哪了，已经{n}天了还没到", "我要退款，{p}质量有问题",
    "{p}尺码不合适，可以换货吗",
    "收到的{p}有破损，怎么处理", "{c}快递一直显示在{city}中转，能帮忙催一下吗", "申请退款{n}天了还没到账",
    "可以开发票吗？抬头写公司的", "优惠券用不了，提示不满足条件", "我想修改收货地址，改到{city}",
    "七天无理由退货运费谁出？", "{p}和图片颜色不一样", "为什么我的订单被取消了", "会员积分怎么兑换",
    "发错货了，我买的是{p}", "在吗？人工客服", "转人工", "{p}还有货吗，什么时候补货", "快递员态度很差，要投诉",
    "退货已经寄回，单号{t}，请查收", "能不能便宜点，买两件{p}", "支持花呗分期吗", "说好的赠品没有收到",
    "包装太简陋了，{p}都压坏了", "怎么联系商家", "物流信息{n}天没更新了", "我要投诉，{p}用了一次就坏了",
)  # fmt: skip
AGENT = (
    "您好，我是客服{a}，很高兴为您服务", "亲，已经帮您催促{c}了，请耐心等待", "退款已经提交，预计{n}个工作日到账",
    "非常抱歉给您带来不便，我们马上为您补发{p}", "亲，换货申请已通过，请按页面地址寄回", "已为您修改收货地址",
    "发票会在确认收货后{n}天内开具", "这边帮您申请了{n}元补偿，请查收", "亲，七天无理由退货运费由买家承担哦",
    "已经登记您的投诉，会在24小时内给您回复", "请提供一下{p}破损处的照片", "订单{o}已经在派送中了",
)  # fmt: skip
BOT = (
    "您好，我是小满，请问有什么可以帮您？", "您的订单{o}当前状态：运输中，承运商{c}", "退货流程：在订单页点击申请售后",
    "正在为您转接人工客服，请稍候", "当前排队人数{n}人，请耐心等待", "七天无理由退货需保持商品完好",
    "抱歉，我没有理解您的问题，可以换个说法吗", "优惠券需满{n}0元可用", "您可以在我的-订单中查看物流",
)  # fmt: skip
ROLE_WEIGHTS = (("customer", CUSTOMER, 5), ("agent", AGENT, 3), ("bot", BOT, 2))
QUERY_WORDS = ("退款", "发货", "快递", "换货", "投诉", "发票", "优惠券", "破损", "地址", "到账", "顺丰", "运费",
               "补发", "积分", "花呗", "赠品", "羽绒服", "蓝牙耳机", "退款 到账", "快递 催促", "换货 尺码",
               "破损 照片", "订单 取消", "物流 更新", "发错货", "质量问题")  # fmt: skip


def tenants(k: int) -> tuple[list[str], list[float]]:
    names = [f"shop-{i}" for i in range(k)]
    weights = [0.4] + [0.6 / (k - 1)] * (k - 1) if k > 1 else [1.0]
    return names, weights


def owners(n: int, k: int, rnd: random.Random) -> list[str]:
    """Each conversation's tenant (~12 lines a conversation); uneven: the largest tenant holds ~40%."""
    names, weights = tenants(k)
    return rnd.choices(names, weights, k=max(1, n // 12))


def customer_of(conv: int, conversations: int) -> str:
    return f"u{conv % (conversations // 4 + 1)}"  # a customer comes back about four times


def lines(n: int, k: int, seed: int = 7) -> Iterator[IndexedMessage]:
    rnd = random.Random(seed)
    owner = owners(n, k, rnd)
    conversations = len(owner)
    for i in range(n):
        conv = rnd.randrange(conversations)
        tenant = owner[conv]
        role, pool, _ = rnd.choices(ROLE_WEIGHTS, [w for *_, w in ROLE_WEIGHTS])[0]
        text = rnd.choice(pool).format(
            p=rnd.choice(PRODUCTS), c=rnd.choice(COURIERS), city=rnd.choice(CITIES), n=rnd.randint(1, 15),
            o=f"25{rnd.randrange(10**15):015d}", t=f"SF{rnd.randrange(10**12):012d}", a=rnd.choice("小王小李小张小赵"))
        if rnd.random() < 0.3:  # customers add a second sentence now and then
            text += rnd.choice(("谢谢", "麻烦快点", "急用！", "好的", "收到", "？？", "我等着呢"))
        at = START + (conv / conversations) * SPAN_DAYS * DAY + rnd.random() * 3600
        yield IndexedMessage(msg_id=i + 1, tenant=tenant, conversation_id=f"conv-{conv}", role=role, text=text,
                             at=at, customer=customer_of(conv, conversations),
                             agent_id=(1000 + conv % 60) if role == "agent" else None, channel="web")  # fmt: skip


def build(path: Path, n: int, k: int, batch: int, heap_mb: int) -> dict[str, float]:
    index = TantivyMessageIndex(path, writer_heap=heap_mb * 1_000_000)
    started = time.perf_counter()
    buf: list[IndexedMessage] = []
    for doc in lines(n, k):
        buf.append(doc)
        if len(buf) >= batch:
            index.add(buf)
            buf = []
    if buf:
        index.add(buf)
    added = time.perf_counter() - started
    index.close()  # waits for merges
    total = time.perf_counter() - started
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return {"lines": n, "seconds": round(total, 1), "lines_per_s": round(n / added), "index_mb": round(size / 2**20)}


def pct(values: list[float], q: float) -> float:
    """Nearest rank: the value q% of searches took at most (no interpolation past the slowest)."""
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)], 2)


def measure(path: Path, n: int, k: int, queries: int, seed: int = 11) -> dict[str, object]:
    rnd = random.Random(seed)
    names, weights = tenants(k)
    owner = owners(n, k, random.Random(7))  # the same draw lines() made
    conversations = len(owner)
    reader = TantivyMessageIndex(path, reload_seconds=3600)
    kinds: dict[str, list[float]] = {"words": [], "words+customer": [], "words+7days": []}
    totals: dict[str, list[int]] = {kind: [] for kind in kinds}
    for _ in range(20):  # warm the page cache and the segmenter
        reader.search(names[0], MessageQuery(words=rnd.choice(QUERY_WORDS)))
    for i in range(queries):
        kind = list(kinds)[i % 3]
        tenant = rnd.choices(names, weights)[0]
        words = rnd.choice(QUERY_WORDS)
        if kind == "words":
            q = MessageQuery(words=words)
        elif kind == "words+customer":  # a customer of this tenant, as an agent looking them up would
            conv = rnd.randrange(conversations)
            tenant = owner[conv]
            q = MessageQuery(words=words, customer=customer_of(conv, conversations))
        else:
            since = START + rnd.random() * (SPAN_DAYS - 7) * DAY
            q = MessageQuery(words=words, since=since, until=since + 7 * DAY)
        started = time.perf_counter()
        page = reader.search(tenant, q)
        kinds[kind].append((time.perf_counter() - started) * 1000)
        totals[kind].append(page.total)
    every = [x for v in kinds.values() for x in v]
    out: dict[str, object] = {"queries": queries, "p50_ms": pct(every, 50), "p99_ms": pct(every, 99),
                              "max_ms": round(max(every), 2)}  # fmt: skip
    for kind, v in kinds.items():
        out[kind] = {"p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "max_ms": round(max(v), 2),
                     "median_matches": int(statistics.median(totals[kind])), "most_matches": max(totals[kind])}
    reader.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--tenants", type=int, default=5)
    ap.add_argument("--queries", type=int, default=600)
    ap.add_argument("--batch", type=int, default=50_000, help="lines per commit while building (the archiver: 2000)")
    ap.add_argument("--heap-mb", type=int, default=512, help="writer heap (the archiver's default: 64)")
    ap.add_argument("--path", type=Path, help="index directory (default: a temporary one, removed after)")
    ap.add_argument("--reuse", action="store_true", help="measure an index --path already holds")
    args = ap.parse_args()
    path = args.path or Path(tempfile.mkdtemp(prefix="search-bench-")) / "messages"
    result: dict[str, object] = {"cpu": cpu(), "lines": args.n, "tenants": args.tenants}
    try:
        if not args.reuse:
            if path.exists():
                shutil.rmtree(path)
            result["build"] = build(path, args.n, args.tenants, args.batch, args.heap_mb)
        result["search"] = measure(path, args.n, args.tenants, args.queries)
    finally:
        if args.path is None:
            shutil.rmtree(path.parent, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
