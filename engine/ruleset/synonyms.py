"""Everyday Chinese words for the default schema's events and the default channels, which
are not their labels: `on: 购买` means the sale event (销售), `channel: 手机短信` is
sms. A word is answered with the name to write, and only when the user's
project has that name; rule files still hold the names alone (see domains.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

EVENT_WORDS: Mapping[str, tuple[str, ...]] = {
    "sale": ("购买", "买入", "成交", "签约", "认购", "申购", "下单", "购买产品", "销售成功"),
    "complaint": ("抱怨", "客诉", "不满", "客户投诉", "投诉事件"),
    "complaint_resolved": ("投诉解决", "投诉处理完毕", "投诉办结", "投诉结案", "已解决"),
    "feedback": ("评价", "意见", "客户反馈", "满意度", "评分", "打分"),
    "product_maturity": ("到期", "理财到期", "存款到期", "定期到期", "期满"),
    "balance_drop": ("余额减少", "余额降低", "余额下跌", "资金流出", "资金流失", "资产流失"),
    "login": ("登陆", "登入", "登录网银", "登录手机银行"),
    "task_outcome": ("任务完成", "回访结果", "跟进结果", "任务反馈"),
}

CHANNEL_WORDS: Mapping[str, tuple[str, ...]] = {
    "sms": ("手机短信", "短消息", "信息", "text", "text message"),
    "email": ("邮件", "电邮", "邮箱", "电子邮箱", "e-mail", "mail"),
    "app": ("手机app", "app推送", "掌上银行", "手机端", "消息推送", "手机银行app"),
    "phone": ("打电话", "致电", "电话外呼", "呼叫中心", "客服电话", "call"),
    "online_banking": ("网银", "网银消息", "网银站内信", "个人网银"),
    "self_service": ("atm", "自助机", "自助终端", "柜员机", "取款机"),
    "counter": ("柜台", "网点", "营业厅", "柜台提示", "线下"),
    "rm_task": ("人工", "经理", "客户经理跟进", "理财经理"),
    # a cap's channel: all counts the messages of every channel
    "all": ("全部", "所有", "全部渠道", "所有渠道", "全渠道", "合计", "总计"),
}


def synonym_of(word: str, words: Mapping[str, tuple[str, ...]], names: Collection[str]) -> str:
    """The name of `names` that `word` (in any letter case, spaces around) is an everyday
    word for, or ''."""
    folded = word.strip().casefold()
    return next((n for n, said in words.items() if n in names and folded in said), "")
