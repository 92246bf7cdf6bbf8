import DWCPCLI
CommandMain.run(MigrateCommand.self)
