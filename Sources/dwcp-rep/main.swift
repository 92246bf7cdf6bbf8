import DWCPCLI

CommandMain.run(RepCommand.self)
