from dnsauto.cli import main

main()
