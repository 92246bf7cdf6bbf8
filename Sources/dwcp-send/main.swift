import DWCPCLI
CommandMain.run(SendCommand.self)
