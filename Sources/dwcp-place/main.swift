import DWCPCLI

CommandMain.run(PlaceCommand.self)
