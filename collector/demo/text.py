"""Canned English text and tables for the demo traces (``collector/demo/scenario.py``).

Plain data only: the models, prompt templates keyed by ``(prompt_id, version)`` and the
scenario material each demo agent draws from. Kept apart so ``demo.py`` reads as the story of how
spans are shaped, not as a wall of strings.
"""

from __future__ import annotations

from typing import Any

# model -> (gen_ai.provider.name, gen_ai.response.model, ms of latency per output token)
MODELS: dict[str, tuple[str, str, int]] = {
    "gpt-4o": ("openai", "gpt-4o-2024-08-06", 14),
    "gpt-4o-mini": ("openai", "gpt-4o-mini-2024-07-18", 8),
    "claude-sonnet-4": ("anthropic", "claude-sonnet-4-20250514", 16),
    "gemini-2.5-flash": ("gcp.gemini", "gemini-2.5-flash", 5),
}

# --- Prompt templates: (prompt_id, version) -> template text. The demo hashes these. ---

_REFUND_POLICY_HEAD = (
    "You are Refund Bot, the customer-support agent of Northwind Home, an online kitchenware "
    "shop. Decide refund requests with the policy below and the order data returned by "
    "lookup_order. Think step by step, then either call issue_refund or explain the refusal.\n\n"
    "Policy:\n"
    "1. Refunds are allowed within 30 days of delivery.\n"
    "2. Damaged, defective or missing items get a full refund of the item price. Items under "
    "$100 need no return shipment; otherwise send a prepaid return label.\n"
    "3. Change-of-mind returns are refunded once the item is back in the warehouse.\n"
    "4. Never refund more than the amount paid for the item. Refunds above $200 need human "
    "approval; the refund tool pauses for it.\n"
)
_REFUND_POLICY_TAIL = (
    "6. Be warm and brief with the customer. Never promise anything the policy does not allow "
    "and never reveal internal notes.\n\nCustomer: {{customer_name}}\nMessage: {{message}}"
)

PROMPTS: dict[tuple[str, str], str] = {
    ("refund-policy", "v6"): _REFUND_POLICY_HEAD
    + "5. Call issue_refund with order_id, the amount in US dollars with cents (for example "
    "19.99), currency and a reason code.\n"
    + _REFUND_POLICY_TAIL,
    # v7: the payments team asked for minor units, but issue_refund still parses dollars.
    ("refund-policy", "v7"): _REFUND_POLICY_HEAD
    + "5. Call issue_refund with order_id, amount, currency and a reason code. Write the amount "
    "as a plain integer without a decimal separator or currency symbol (for example 1999 for "
    "$19.99): the payments team now parses amounts in minor units.\n"
    + _REFUND_POLICY_TAIL,
    ("refund-intent", "v2"): (
        "Classify the customer's message for Northwind Home support. Answer with JSON only: "
        '{"intent": one of refund_request, order_status, other; "order_id": the order number '
        'or null; "sentiment": positive, neutral or negative}.\nMessage: {{message}}'
    ),
    ("refund-intent", "v3"): (
        "Classify the customer's message for Northwind Home support. Order numbers are five "
        "digits and may be written with a leading '#'. Answer with JSON only: "
        '{"intent": one of refund_request, order_status, other; "order_id": string or null; '
        '"sentiment": positive, neutral or negative}. Do not add any prose.\nMessage: {{message}}'
    ),
    ("research-synthesis", "v3"): (
        "You are a research assistant for the product and strategy team at Acme Analytics. "
        "Answer the question using the internal documents and web results provided. Cite each "
        "claim with the document id in square brackets. If sources disagree, say so. Keep the "
        "answer under 250 words and end with one line of open questions.\n\n"
        "Question: {{question}}\n\nDocuments:\n{{documents}}\n\nWeb results:\n{{web_results}}"
    ),
    ("research-synthesis", "v4"): (
        "You are a research assistant for the product and strategy team at Acme Analytics. "
        "Answer the question using only the internal documents and web results provided; do "
        "not rely on prior knowledge for numbers. Cite each claim with the document id in "
        "square brackets, prefer internal sources over web results when they conflict, and "
        "flag any figure older than twelve months. Structure: a two-sentence summary, then "
        "bullet points, then 'Open questions:'. Stay under 250 words.\n\n"
        "Question: {{question}}\n\nDocuments:\n{{documents}}\n\nWeb results:\n{{web_results}}"
    ),
    ("sql-writer", "v11"): (
        "You write ClickHouse SQL for the analytics warehouse of Acme Analytics. Use only the "
        "tables and columns in the schema below. Always filter on a date range, always add a "
        "LIMIT, and never write to the database. Return the query in a ```sql block followed by "
        "one sentence explaining it.\n\nSchema:\n{{schema}}\n\nQuestion: {{question}}"
    ),
    ("sql-writer", "v12"): (
        "You write ClickHouse SQL for the analytics warehouse of Acme Analytics. Use only the "
        "tables and columns in the schema below. Always filter on a date range (default: the "
        "last 30 days), always add a LIMIT of at most 1000, prefer the daily rollup tables "
        "over raw events, and never write to the database. Money columns are in US dollars. "
        "Return the query in a ```sql block followed by one sentence explaining it.\n\n"
        "Schema:\n{{schema}}\n\nQuestion: {{question}}"
    ),
    ("sql-summary", "v2"): (
        "Explain the query result below to a business user in three sentences or fewer. "
        "Mention the most important number first, give units, and note anything surprising. "
        "Do not show SQL.\n\nQuestion: {{question}}\nResult:\n{{result}}"
    ),
    ("triage-classify", "v4"): (
        "You triage inbound support tickets for Acme Analytics. Read the ticket and answer with "
        'JSON only: {"category": billing, bug, outage, access or how_to; "severity": sev1 to '
        'sev4; "summary": one sentence}. sev1 means many customers cannot use the product.'
        "\n\nTicket:\n{{ticket}}"
    ),
    ("triage-classify", "v5"): (
        "You triage inbound support tickets for Acme Analytics. Read the ticket and the "
        'customer plan, then answer with JSON only: {"category": billing, bug, outage, access '
        'or how_to; "severity": sev1 to sev4; "summary": one sentence; "queue": the team that '
        'should own it}. sev1 means many customers cannot use the product or data is being '
        "lost; an enterprise customer blocked in production is at least sev2.\n\nTicket:\n{{ticket}}"
    ),
    ("triage-reply", "v1"): (
        "Draft the first reply to the customer for the ticket below. Acknowledge the problem in "
        "their words, say what happens next and when they will hear from us, and include the "
        "ticket number. No more than 120 words, no apologies beyond one sentence.\n\n"
        "Ticket:\n{{ticket}}\nRunbook notes:\n{{notes}}"
    ),
}

# --- refund-bot ---

FIRST_NAMES = [
    "Priya", "Tomás", "Hannah", "Kwame", "Sofia", "Liam", "Mei", "Jonas", "Aisha", "Daniel",
    "Olivia", "Mateo", "Grace", "Yusuf", "Elena", "Noah", "Chloe", "Ravi", "Isabel", "Ethan",
]

# (sku, product name, price in dollars)
PRODUCTS = [
    ("NW-1102", "cast-iron skillet (10 inch)", 38.00),
    ("NW-2210", "ceramic pour-over kettle", 49.50),
    ("NW-3301", "chef's knife set", 129.00),
    ("NW-0874", "stand mixer", 349.99),
    ("NW-4420", "bamboo cutting board", 24.75),
    ("NW-5108", "espresso grinder", 219.00),
    ("NW-6612", "linen tea towels (set of 4)", 18.90),
    ("NW-7003", "dutch oven (5.5 qt)", 84.00),
    ("NW-8150", "glass storage containers (12 pieces)", 42.60),
    ("NW-9021", "digital kitchen scale", 27.45),
]

# (reason text as the customer says it, reason code)
DAMAGE_REASONS = [
    ("arrived with a cracked lid", "damaged_on_arrival"),
    ("stopped working after four days", "defective"),
    ("was missing from the box even though the packing slip lists it", "missing_item"),
    ("arrived with a deep scratch across the surface", "damaged_on_arrival"),
    ("has a loose handle that wobbles when I lift it", "defective"),
]

REFUND_MESSAGES = [
    "Hi, I ordered the {item} (order #{order_id}) and it {reason}. Can I get my money back?",
    "Hello! Order {order_id}: the {item} {reason}. I'd like a refund please, I don't want a "
    "replacement.",
    "My {item} {reason}. This was order {order_id}. Pretty disappointed, what can you do?",
    "Hi there, quick one - order #{order_id}, the {item} {reason}. Refund to my card would be "
    "great. Thanks!",
]
STATUS_MESSAGES = [
    "Where is my order #{order_id}? The tracking page hasn't changed in three days.",
    "Hi, can you tell me when order {order_id} will arrive? It's a birthday present.",
    "Order {order_id} says 'label created' since Monday. Is it actually shipped?",
]
LATE_MESSAGES = [
    "Hi, I bought the {item} two months ago (order {order_id}) and I'd like to return it, I "
    "never really used it.",
    "Can I still get a refund for order #{order_id}? The {item} {reason}, but I only noticed "
    "now, it's been a while.",
]

REFUND_DECISION = (
    "Order {order_id} was delivered on {delivered}, {days} days ago, which is inside the 30-day "
    "return window. The customer reports that the {item} {reason}; under rule 2 a damaged, "
    "defective or missing item qualifies for a full refund of the item price. The item price "
    "on the order is ${price:.2f} and there is no earlier refund on this order. {return_note} "
    "Decision: full refund of ${price:.2f} to the original payment method ({payment}). "
    "Calling issue_refund with amount {amount_arg} {currency}."
)
INCIDENT_DECISION = (
    "Order {order_id} was delivered on {delivered}, {days} days ago, inside the 30-day return "
    "window. The customer reports that the {item} {reason}; a damaged item qualifies for a "
    "full refund of the item price under rule 2. The item price on the order is ${price:.2f} "
    "and there is no earlier refund on this order. No return shipment is needed because the "
    "item is under $100. Per rule 5, amounts passed to issue_refund are written as a plain "
    "integer without a decimal separator, so ${price:.2f} becomes {amount_arg}. Decision: full "
    "refund to the original payment method ({payment}). Calling issue_refund with amount "
    "{amount_arg} {currency}."
)
RETURN_NOTES = {
    True: "The item costs less than $100, so no return shipment is needed.",
    False: "The item costs $100 or more, so a prepaid return label will be emailed as well.",
}
REFUND_REPLY = (
    "Hi {name}, I'm sorry the {item} {reason}. I've issued a full refund of ${amount:,.2f} to "
    "your {payment}; it should appear within 3-5 business days (reference {refund_id}). {extra}"
    "Is there anything else I can help you with?"
)
REFUND_REJECTED_REPLY = (
    "Hi {name}, thanks for your patience. A member of our team reviewed your request for order "
    "{order_id} and couldn't approve a refund of ${amount:,.2f} yet: we need a photo of the "
    "{item} and of the shipping box to open a claim with the carrier. Reply to this message "
    "with the photos and we'll finish it within one business day."
)
REFUND_PENDING_REPLY = (
    "Hi {name}, your refund request for order {order_id} (${amount:,.2f}) needs a quick review "
    "by a colleague because of the amount. They weren't able to get to it just now, so I've "
    "passed it to the returns team and you'll get an email within 24 hours. Sorry for the wait!"
)
STATUS_DECISION = (
    "The customer asks about delivery, not a refund. lookup_order shows order {order_id} "
    "shipped on {shipped} with {carrier}, tracking {tracking}, last scan '{scan}'. Carrier "
    "estimate is {eta}. No refund is due; reply with the tracking details and the estimate."
)
STATUS_REPLY = (
    "Hi {name}! Your order {order_id} shipped on {shipped} with {carrier} (tracking "
    "{tracking}). The last scan says '{scan}', and the carrier expects to deliver it {eta}. "
    "If it hasn't arrived by then, just reply here and I'll open a trace with the carrier."
)
LATE_DECISION = (
    "Order {order_id} was delivered on {delivered}, {days} days ago, which is outside the "
    "30-day window in rule 1. The customer does not report a defect that appeared within the "
    "window, so the request is not eligible. Refuse politely, mention the 2-year manufacturer "
    "warranty for defects and offer store credit as a goodwill gesture only if they are upset."
)
LATE_REPLY = (
    "Hi {name}, thanks for reaching out. Order {order_id} was delivered {days} days ago, and "
    "our refund window is 30 days from delivery, so I'm not able to refund it. If the {item} "
    "develops a defect, it is covered by the 2-year manufacturer warranty and I can help you "
    "file a claim. Would that help?"
)
CARRIERS = ["UPS", "FedEx", "USPS"]
SCANS = ["Departed facility in Memphis, TN", "Arrived at carrier facility", "Out for delivery",
         "In transit to next facility"]
ETAS = ["tomorrow by end of day", "on Friday", "within two business days"]
PAYMENTS = ["Visa ending 4242", "Mastercard ending 5510", "PayPal account", "Amex ending 1005"]
SUPPORT_APPROVERS = ["j.alvarez@northwind.example", "m.okafor@northwind.example",
                     "s.lindqvist@northwind.example"]

# --- research-assistant ---
# Each topic: question, internal documents (id, content), web results, answer.

RESEARCH_TOPICS: list[dict[str, Any]] = [
    {
        "question": "What did customers say about the new checkout flow in the Q3 interviews?",
        "docs": [
            ("wiki/research/q3-checkout-interviews", "Twelve interviews with mid-market customers "
             "(July-August). Nine of twelve said the single-page checkout was faster. Four "
             "complained that the saved-card selector is hidden below the fold on laptops. Two "
             "finance buyers asked for PO numbers on invoices before they can switch."),
            ("wiki/metrics/checkout-funnel-q3", "Checkout conversion rose from 61.2% to 66.8% "
             "after the rollout on 14 August. Mobile conversion rose less (58.0% to 60.1%). "
             "Payment-step abandonment fell by a third; address-step abandonment is unchanged."),
            ("notion/pm/checkout-roadmap", "Next quarter: PO number field, saved-card selector "
             "redesign, Apple Pay for the web app. Apple Pay depends on the payments provider "
             "migration scheduled for November."),
        ],
        "web": [("Baymard: checkout usability benchmark 2025", "https://baymard.com/research/checkout-usability",
                 "The average documented cart abandonment rate is 70.2%; 18% of users abandon because of a too long or complicated checkout.")],
        "answer": "Customers mostly liked the new single-page checkout: nine of the twelve Q3 "
        "interviewees said it was faster [wiki/research/q3-checkout-interviews], and conversion "
        "rose from 61.2% to 66.8% after the 14 August rollout [wiki/metrics/checkout-funnel-q3].\n\n"
        "- The main complaint (4 of 12) is that the saved-card selector sits below the fold on "
        "laptops [wiki/research/q3-checkout-interviews]; a redesign is already on next quarter's "
        "roadmap [notion/pm/checkout-roadmap].\n- Finance buyers want PO numbers on invoices "
        "before switching; also planned [notion/pm/checkout-roadmap].\n- Mobile improved much "
        "less (58.0% to 60.1%) [wiki/metrics/checkout-funnel-q3], which the interviews did not "
        "cover because all twelve sessions were on desktop.\n- Industry context: the Baymard "
        "benchmark puts average abandonment at 70.2%, so our payment-step gain is meaningful.\n\n"
        "Open questions: why did mobile lag, and is the address step now the main drop-off?",
    },
    {
        "question": "How do our competitors price usage-based analytics plans?",
        "docs": [
            ("wiki/strategy/competitor-pricing-2025", "Competitor A: $0.25 per 1,000 events "
             "after 10M free, annual commit discounts of 20%. Competitor B: seat-based at $45 "
             "per editor per month, unlimited viewers, events capped by tier. Competitor C moved "
             "from seats to credits in March; credits expire after 12 months."),
            ("gong/calls/lost-deals-summary", "In 7 of 19 lost deals the buyer cited "
             "unpredictable bills with event-based pricing. Three buyers explicitly asked for a "
             "hard monthly cap."),
        ],
        "web": [("Competitor C announces credit-based pricing", "https://example.com/blog/credits",
                 "Starting March, all plans use prepaid credits that can be spent on events, seats or AI features.")],
        "answer": "Competitors split between pure usage pricing and seats, and the newest move "
        "is toward prepaid credits [wiki/strategy/competitor-pricing-2025].\n\n- Competitor A "
        "charges $0.25 per 1,000 events after 10M free, with 20% off for annual commits.\n- "
        "Competitor B prices per editor ($45/month) with unlimited viewers and tiered event "
        "caps.\n- Competitor C switched to credits in March; credits expire after 12 months "
        "(confirmed by their announcement).\n- Our own loss data shows the risk of pure usage "
        "pricing: 7 of 19 lost deals cited unpredictable bills, and three buyers asked for a "
        "hard monthly cap [gong/calls/lost-deals-summary].\n\nThe competitor figures are from "
        "the 2025 pricing review and should be rechecked before any decision.\n\nOpen questions: "
        "would a spend cap on our current plan close the gap without a full repricing?",
    },
    {
        "question": "Summarise the root causes of last quarter's data pipeline incidents.",
        "docs": [
            ("pagerduty/postmortems/2025-q3", "Five sev2 incidents. Three came from schema "
             "changes in upstream Kafka topics that broke the ingestion parser. One was a full "
             "disk on a ClickHouse replica after TTLs were disabled during a migration. One was "
             "an expired TLS certificate on the partner SFTP bridge."),
            ("wiki/eng/schema-registry-proposal", "Proposal: enforce backward-compatible "
             "schemas with a registry and contract tests in CI. Estimated effort: two engineers "
             "for six weeks."),
            ("wiki/eng/oncall-review-sept", "Mean time to detect was 41 minutes, mostly because "
             "ingestion lag alerts fire only after 30 minutes of lag."),
        ],
        "web": [],
        "answer": "Most of last quarter's pipeline incidents came from unannounced upstream "
        "schema changes; the rest were operational slips [pagerduty/postmortems/2025-q3].\n\n"
        "- 3 of 5 sev2 incidents: Kafka topic schema changes broke the ingestion parser. A "
        "schema registry with contract tests in CI is proposed (about two engineers for six "
        "weeks) [wiki/eng/schema-registry-proposal].\n- 1 incident: a ClickHouse replica "
        "filled its disk after TTLs were disabled during a migration.\n- 1 incident: an "
        "expired TLS certificate on the partner SFTP bridge.\n- Detection is slow: mean time to "
        "detect was 41 minutes because lag alerts wait for 30 minutes of lag "
        "[wiki/eng/oncall-review-sept].\n\nOpen questions: can the lag alert threshold drop to "
        "10 minutes without paging noise, and who owns certificate expiry checks?",
    },
    {
        "question": "What is the adoption of the Slack integration among enterprise accounts?",
        "docs": [
            ("looker/dash/integrations-adoption", "Slack integration enabled by 38% of "
             "enterprise accounts (61 of 160), up from 29% in Q2. Weekly active alert "
             "subscriptions per enabled account: median 14."),
            ("wiki/research/slack-feedback", "Users like alert digests but find per-alert "
             "messages noisy. Two large accounts disabled the integration because channel "
             "messages leaked metric names they consider confidential."),
        ],
        "web": [("Slack platform usage statistics", "https://example.com/slack-stats",
                 "Slack reports over 750,000 organisations using workflow automations.")],
        "answer": "About four in ten enterprise accounts use the Slack integration: 61 of 160 "
        "(38%), up from 29% in Q2 [looker/dash/integrations-adoption].\n\n- Engaged accounts "
        "use it heavily, with a median of 14 active alert subscriptions each.\n- Feedback is "
        "positive about digests but negative about per-alert noise "
        "[wiki/research/slack-feedback].\n- Two large accounts turned it off because messages "
        "exposed confidential metric names, which suggests a redaction option could unblock "
        "security-sensitive customers.\n- The web result about Slack's own usage is not "
        "specific enough to benchmark our adoption against.\n\nOpen questions: how many "
        "non-adopters are blocked by security review rather than lack of interest?",
    },
    {
        "question": "Which onboarding steps correlate with 90-day retention?",
        "docs": [
            ("notebooks/growth/onboarding-retention", "Cohort Jan-Jun, 4,812 workspaces. "
             "Connecting a data source in the first 24 hours: 90-day retention 71% vs 38%. "
             "Inviting a second teammate in week one: 68% vs 41%. Completing the product tour: "
             "no measurable difference after controlling for source connection."),
            ("wiki/growth/activation-definition", "Activation is defined as one connected data "
             "source plus one saved dashboard within 7 days."),
        ],
        "web": [],
        "answer": "Connecting a data source early is the strongest signal: workspaces that did "
        "it within 24 hours retained at 71% after 90 days versus 38% for the rest "
        "[notebooks/growth/onboarding-retention].\n\n- Inviting a second teammate in week one "
        "is the next strongest (68% vs 41%).\n- The product tour shows no effect once source "
        "connection is controlled for.\n- These are correlations from the January-June cohort "
        "of 4,812 workspaces, not experiments, so teams that were already committed may simply "
        "do both.\n- The current activation definition (source plus saved dashboard within 7 "
        "days) [wiki/growth/activation-definition] may be too lenient given the 24-hour "
        "effect.\n\nOpen questions: would an experiment that nudges source connection on day "
        "one move retention?",
    },
    {
        "question": "What are the main risks in moving our warehouse to the EU region?",
        "docs": [
            ("wiki/eng/eu-region-plan", "Target: EU data residency for 40 enterprise accounts "
             "by Q2. Risks: double storage cost during dual-write (about $18k/month for three "
             "months), cross-region latency for the US-hosted API, and the DPA amendments legal "
             "must sign with each customer."),
            ("legal/dpa-tracker", "Of 40 EU accounts, 12 have signed the amended DPA, 9 are in "
             "review, 19 not started."),
        ],
        "web": [("EU-US Data Privacy Framework overview", "https://example.com/dpf",
                 "The framework allows transfers to certified US companies but remains subject to legal challenge.")],
        "answer": "The move is mainly a cost-and-paperwork risk rather than a technical one "
        "[wiki/eng/eu-region-plan].\n\n- Cost: dual-write doubles storage for about three "
        "months, roughly $18k per month.\n- Latency: the API stays in the US, so EU dashboards "
        "will make cross-region calls until the API is replicated.\n- Legal: only 12 of 40 EU "
        "accounts have signed the amended DPA and 19 have not started [legal/dpa-tracker], "
        "which puts the Q2 target at risk.\n- The EU-US Data Privacy Framework could reduce "
        "the urgency for some customers, but it remains open to legal challenge.\n\nOpen "
        "questions: can we migrate signed accounts first, and does the API need an EU replica "
        "before launch?",
    },
]

WEB_TIMEOUT = "web_search timed out after 30000 ms (provider: bing-proxy, attempt 2 of 2)"

# --- sql-analyst ---

SQL_SCHEMA = (
    "events(event_time DateTime, workspace_id UInt64, user_id UInt64, event_name String, "
    "plan LowCardinality(String), country LowCardinality(String))\n"
    "daily_revenue(day Date, workspace_id UInt64, plan LowCardinality(String), mrr_usd "
    "Decimal(12,2), new_mrr_usd Decimal(12,2), churned_mrr_usd Decimal(12,2))\n"
    "workspaces(workspace_id UInt64, name String, created_at DateTime, plan "
    "LowCardinality(String), seats UInt32, region LowCardinality(String))"
)

SQL_QUESTIONS: list[dict[str, Any]] = [
    {
        "question": "What was our MRR by plan at the end of last month?",
        "sql": "SELECT plan, sum(mrr_usd) AS mrr\nFROM daily_revenue\nWHERE day = toLastDayOfMonth(today() - INTERVAL 1 MONTH)\nGROUP BY plan\nORDER BY mrr DESC\nLIMIT 100",
        "columns": ["plan", "mrr"],
        "rows": [["enterprise", 812400.00], ["growth", 296150.50], ["starter", 48920.00]],
        "summary": "Monthly recurring revenue at the end of last month was about $1.16M, and "
        "enterprise accounts make up 70% of it ($812k). Growth brings in $296k and starter "
        "$49k; the starter plan is small enough that price changes there barely move the total.",
    },
    {
        "question": "How many workspaces signed up each week over the last 8 weeks?",
        "sql": "SELECT toStartOfWeek(created_at) AS week, count() AS signups\nFROM workspaces\nWHERE created_at >= today() - INTERVAL 8 WEEK\nGROUP BY week\nORDER BY week\nLIMIT 100",
        "columns": ["week", "signups"],
        "rows": [["2026-09-28", 412], ["2026-10-05", 398], ["2026-10-12", 455], ["2026-10-19", 471],
                 ["2026-10-26", 389], ["2026-11-02", 502], ["2026-11-09", 517], ["2026-11-16", 498]],
        "summary": "Weekly sign-ups grew from about 400 to about 500 over the last eight weeks, "
        "with the best week at 517 (week of 9 November). The dip to 389 in the last week of "
        "October lines up with the pricing page outage that week.",
    },
    {
        "question": "Which countries had the most active users yesterday?",
        "sql": "SELECT country, uniqExact(user_id) AS active_users\nFROM events\nWHERE event_time >= yesterday() AND event_time < today()\nGROUP BY country\nORDER BY active_users DESC\nLIMIT 10",
        "columns": ["country", "active_users"],
        "rows": [["US", 18342], ["DE", 6120], ["GB", 5871], ["IN", 4410], ["BR", 3022]],
        "summary": "The United States had by far the most active users yesterday (18,342), about "
        "three times Germany (6,120) and the UK (5,871). India and Brazil follow; together the "
        "top five countries cover roughly 80% of daily actives.",
    },
    {
        "question": "What was churned MRR per month this year?",
        "sql": "SELECT toStartOfMonth(day) AS month, sum(churned_mrr_usd) AS churned\nFROM daily_revenue\nWHERE day >= toStartOfYear(today())\nGROUP BY month\nORDER BY month\nLIMIT 12",
        "columns": ["month", "churned"],
        "rows": [["2026-01-01", 21400.0], ["2026-04-01", 18950.0], ["2026-07-01", 32780.0], ["2026-10-01", 17210.0]],
        "summary": "Churned MRR stayed around $17k-21k a month this year except in July, when it "
        "spiked to $32.8k. That spike matches the two enterprise renewals we lost in July; "
        "without them July would have been a normal month.",
    },
    {
        "question": "Average seats per workspace by region for enterprise accounts?",
        "sql": "SELECT region, avg(seats) AS avg_seats, count() AS workspaces\nFROM workspaces\nWHERE plan = 'enterprise' AND created_at >= today() - INTERVAL 3 YEAR\nGROUP BY region\nORDER BY avg_seats DESC\nLIMIT 20",
        "columns": ["region", "avg_seats", "workspaces"],
        "rows": [["us-east", 84.2, 71], ["eu-west", 66.9, 40], ["ap-southeast", 51.3, 18]],
        "summary": "Enterprise workspaces in us-east average 84 seats, about a quarter more than "
        "in eu-west (67) and 60% more than in ap-southeast (51). The APAC sample is small, only "
        "18 workspaces, so treat that number with care.",
    },
    {
        "question": "Top 5 events by volume in the last 7 days?",
        "sql": "SELECT event_name, count() AS events\nFROM events\nWHERE event_time >= now() - INTERVAL 7 DAY\nGROUP BY event_name\nORDER BY events DESC\nLIMIT 5",
        "columns": ["event_name", "events"],
        "rows": [["dashboard_view", 4182230], ["query_run", 2210470], ["alert_fired", 880120],
                 ["export_csv", 120954], ["share_link", 48211]],
        "summary": "Dashboard views dominate with 4.2 million events in the last seven days, "
        "almost twice as many as query runs (2.2 million). Alerts fired 880k times; CSV exports "
        "and shared links are much rarer.",
    },
]
SQL_MEMORY_ERROR = (
    "Code: 241. DB::Exception: Memory limit (for query) exceeded: would use 9.31 GiB "
    "(attempt to allocate chunk of 4194304 bytes), maximum: 9.31 GiB: While executing "
    "AggregatingTransform. (MEMORY_LIMIT_EXCEEDED)"
)
RATE_LIMIT_ERROR = (
    "Error code: 429 - {{'error': {{'message': 'Rate limit reached for gpt-4o-mini in "
    "organization org-acme on tokens per min (TPM): Limit 200000, Used 199{used}, Requested "
    "{requested}. Please try again in {wait}ms.', 'type': 'tokens', 'code': "
    "'rate_limit_exceeded'}}}}"
)

# --- triage-bot ---

TICKETS: list[dict[str, Any]] = [
    {"text": "Subject: Dashboards not loading for the whole team\n\nSince about 9:10 this "
     "morning none of our dashboards load, we just get a spinner and then 'query failed "
     "(502)'. This affects all 40 people in our workspace and we have a board meeting at 2pm. "
     "Please help urgently.",
     "category": "outage", "severity": "sev1", "queue": "sre",
     "summary": "All dashboards in the workspace fail with 502 errors since 09:10."},
    {"text": "Subject: Charged twice for November\n\nHi, our card was charged $1,490 twice on "
     "1 November for the growth plan. Can you refund the duplicate charge? Invoice numbers "
     "INV-20931 and INV-20932.",
     "category": "billing", "severity": "sev3", "queue": "billing",
     "summary": "Customer was charged twice for the November growth plan invoice."},
    {"text": "Subject: SSO login loop\n\nAfter we rotated our Okta certificate yesterday, "
     "users get redirected back to the login page in a loop. Password login still works for "
     "admins. We'd like to keep SSO enforced.",
     "category": "access", "severity": "sev2", "queue": "identity",
     "summary": "SAML SSO login loops after the customer rotated their Okta certificate."},
    {"text": "Subject: How do I schedule a PDF export?\n\nIs there a way to email a PDF of a "
     "dashboard every Monday at 8am to people outside our workspace?",
     "category": "how_to", "severity": "sev4", "queue": "support",
     "summary": "Customer asks how to schedule weekly PDF exports to external recipients."},
    {"text": "Subject: Numbers in the revenue chart are wrong\n\nThe revenue chart shows $0 for "
     "every day since Sunday, but our raw table still has data. We didn't change anything. "
     "Finance uses this chart for daily reporting.",
     "category": "bug", "severity": "sev2", "queue": "data-platform",
     "summary": "Revenue chart shows zero since Sunday although the source table has data."},
    {"text": "Subject: Alerts arriving hours late\n\nOur Slack alerts for failed payments "
     "arrived 3-4 hours after the events yesterday evening. Several customers are affected on "
     "our side. Is there an incident?",
     "category": "outage", "severity": "sev1", "queue": "sre",
     "summary": "Slack alerts for multiple customers are delayed by three to four hours."},
    {"text": "Subject: Remove former employee\n\nPlease remove j.smith from our workspace, they "
     "left the company and I can't find the button. I'm an admin.",
     "category": "access", "severity": "sev4", "queue": "support",
     "summary": "Admin cannot find how to remove a former employee from the workspace."},
]
RUNBOOKS: list[tuple[str, str]] = [
    ("runbook/query-502", "If many dashboards fail with 502, check the query gateway pods and "
     "the ClickHouse cluster health page. Post on the status page within 15 minutes of a "
     "confirmed sev1."),
    ("runbook/alert-delay", "Alert delays usually mean the alert evaluator queue is backed up. "
     "Check queue depth in Grafana; scale the evaluator deployment; page on-call for sev1."),
    ("runbook/sso-cert-rotation", "After an IdP certificate rotation the customer must upload "
     "the new certificate in Settings > Security > SSO. Offer a screen share if needed."),
    ("runbook/duplicate-charge", "Duplicate charges are refunded by billing within two business "
     "days. Confirm both invoice ids and the last four digits of the card."),
    ("kb/scheduled-exports", "Scheduled exports: Dashboard menu > Schedule > PDF. External "
     "recipients require the 'allow external sharing' setting on the growth plan or above."),
    ("kb/remove-member", "Admins remove members under Settings > Members > ... > Remove. "
     "Their dashboards are transferred to the admin."),
    ("runbook/zero-values", "Zero values across a chart often mean a broken join after a "
     "column rename in the customer's source. Check the dataset lineage page."),
]
TRIAGE_REPLY = (
    "Hi {name}, thanks for the report - {summary_lower} I've opened ticket {ticket} with our "
    "{queue} team and marked it {severity}. {next_step} You'll hear from us {when}, and you "
    "can follow progress on the ticket page in the meantime."
)
NEXT_STEPS = {
    "sev1": "Our on-call engineer has been paged and is looking at it now.",
    "sev2": "An engineer is reviewing the logs for your workspace.",
    "sev3": "The team will check the details with you.",
    "sev4": "Here is what to try first: {hint}",
}
WHEN = {"sev1": "within 30 minutes", "sev2": "within 2 hours", "sev3": "within one business "
        "day", "sev4": "within two business days"}
COMPANIES = ["Brightline Logistics", "Harbor Health", "Kite Finance", "Mosaic Retail",
             "Northstar Labs", "Oakridge Foods", "Pinewood Media"]
ANALYSTS = ["maya.chen", "oliver.grant", "fatima.rahman", "lucas.meyer", "nina.petrova",
            "samuel.osei"]
ONCALL_APPROVERS = ["oncall-lead@acme.example", "sre-manager@acme.example"]
