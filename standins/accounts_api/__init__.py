"""Stand-in of the fund house's on-premise account API (registrar-style: investors, folios, NAVs, SIPs, OTPs).

It lives apart from the product on purpose: pointing `ACCOUNTS_API_URL` at the real system is the only change a
fund house makes. See README.md in this folder for the endpoints, the seeded test investors and fault injection.
"""
