import DWCPCLI

CommandMain.run(EncodeCommand.self)
