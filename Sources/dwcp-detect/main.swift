import DWCPCLI
CommandMain.run(DetectCommand.self)
