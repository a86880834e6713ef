from crm_push.cli import main

main()
