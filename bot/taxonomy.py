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
