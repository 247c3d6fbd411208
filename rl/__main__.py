from rl.cli import main

raise SystemExit(main())
