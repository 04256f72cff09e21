@echo off
rem Checkmk local check (Windows agent): the Exchange Server Auth certificate.
rem Install as C:\ProgramData\checkmk\agent\local\exchange_authcert.cmd; caching: see README.md.
"C:\Program Files\ExchangeAuthCert\check_exchange_authcert.exe" --bundle "C:\ProgramData\ExchangeAuthCert\exchange-authstate.json" --output checkmk
