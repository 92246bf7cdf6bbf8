import DWCPCLI
CommandMain.run(RecvCommand.self)
