from corrigo.cli import main

main()
