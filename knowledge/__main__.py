from knowledge.server import main

main()
