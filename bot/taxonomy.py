"""The fixed taxonomy of intents and FAQ topics (issue 3): evaluation data written elsewhere scores these names."""

ACCOUNT_INTENTS = (
    "check_portfolio",
    "check_nav",
    "sip_status",
    "stop_sip",
    "transaction_history",
    "request_statement",
    "kyc_status",
    "redemption_status",
    "update_contact",
    "talk_to_agent",
)
CONVERSATION_INTENTS = ("greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "out_of_scope", "inform")
FAQ_TOPICS = (
    "what_is_nav",
    "what_is_sip",
    "start_sip",
    "redeem_units",
    "redemption_timeline",
    "exit_load",
    "elss_lock_in",
    "capital_gains_tax",
    "kyc_documents",
    "update_kyc",
    "nomination",
    "cut_off_time",
    "switch_scheme",
    "minimum_investment",
    "direct_vs_regular",
    "what_is_folio",
    "swp_stp",
    "riskometer",
    "idcw",
    "change_bank_account",
    "unclaimed_amount",
)

# Out of scope is one intent of the taxonomy (evaluation scores `out_of_scope`), but the training data teaches
# it by kind (`out_of_scope_<kind>`), and bot/components/scope.py folds the kinds back into `out_of_scope`,
# keeping the kind as the `scope_kind` entity that picks the scope reply (domain/scope.yml).
OUT_OF_SCOPE = "out_of_scope"
SCOPE_KIND_PREFIX = "out_of_scope_"
SCOPE_KIND_ENTITY = "scope_kind"
SCOPE_KINDS = (
    "stock_market",  # share and index prices, stock tips, IPOs, F&O, demat, market predictions
    "advice",  # which fund to buy, best SIP, should I invest: recommendations and personal advice
    "deposits",  # bank FDs and RDs, tax-saver FDs, interest rates of deposits
    "banking",  # bank balance, branch, IFSC, cheque book, net banking, UPI, ATM
    "loans",  # personal, home, gold loans, EMIs, loans against securities
    "cards",  # credit and debit cards, their bills, limits and statements
    "insurance",  # premiums, policies, claims, insurance nominees, LIC
    "retirement",  # EPF/PF, PPF, NPS, small savings schemes
    "income_tax",  # ITR filing, Form 16, TDS, GST, refunds, deductions beyond ELSS and MF capital gains
    "id_documents",  # Aadhaar and PAN-card services, Aadhaar-PAN link, passport, voter id
    "other_apps",  # other brokers, apps and platforms (Zerodha, Groww, Paytm Money ...)
    "other_assets",  # crypto, gold and silver rates, real estate, forex
    "chitchat",  # everything else: weather, cricket, food, jokes, travel, coding ...
)
