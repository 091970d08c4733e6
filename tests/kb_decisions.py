"""Questions whose end-to-end tests (tests/e2e) depend on a decision of the sample knowledge base.

The e2e tests use these phrasings; ``tests/knowledge/test_decision_margins.py`` checks, quickly and without
Rasa, that each sits far enough from every gate threshold that no CPU's float rounding can flip it.
"""

from __future__ import annotations

SURE_LOGISTICS_DESCRIPTION = "包裹卡在中转站好几天不动了"
SURE_ABROAD = "能寄到国外吗 我在美国"
ANSWERED_COMPLAINT_QUESTION = "客服处理得太敷衍了 找谁投诉"
ANSWERED_POLICY = ("支持花呗分期付款吗", "退货的话运费谁出呀", "地址写错了能改吗", "下单后一般多久发货", "退货运费谁出")
SUGGESTED = ("人在意大利 能买你们家东西不", "你们的包装盒环保吗")
DECLINED = ("帮我写一首关于秋天的诗", "今天杭州天气怎么样")

ALL = (SURE_LOGISTICS_DESCRIPTION, SURE_ABROAD, ANSWERED_COMPLAINT_QUESTION, *ANSWERED_POLICY, *SUGGESTED,
       *DECLINED)  # fmt: skip
