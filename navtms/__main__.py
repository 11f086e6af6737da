from navtms.cli import main

raise SystemExit(main())
